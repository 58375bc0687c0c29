package ocsp_test

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	xocsp "golang.org/x/crypto/ocsp"

	"github.com/muhr-pki/muhr/ocsp"
)

// A client asking for many random serials under our issuer (never issued)
// cannot grow the responder's memory: the never-issued answers kept are
// capped (the oldest evicted, counted in a metric), while every answer,
// evicted or not, is still revoked 1970-01-01 certificateHold with the
// extended-revoke extension, and answers about stored certificates stay
// cached.
func TestUnissuedAnswersCapped(t *testing.T) {
	const cap, asked = 25, 100
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, func(o *ocsp.Options) { o.MaxUnissued = cap; o.Registry = reg })
	good, _ := e.leaf(t, true)
	goodReq, _ := xocsp.CreateRequest(good, e.p.Issuing, nil)
	var first *big.Int
	ask := func(req []byte, serial *big.Int) *xocsp.Response {
		t.Helper()
		_, b := post(t, e.url, "application/ocsp-request", req)
		if serial == first {
			t.Logf("one never-issued answer: %d bytes of DER", len(b))
		}
		r, err := xocsp.ParseResponse(b, e.p.Issuing)
		if err != nil {
			t.Fatalf("serial %x: %v", serial, err)
		}
		if r.SerialNumber.Cmp(serial) != 0 {
			t.Fatalf("answer about %x, asked %x", r.SerialNumber, serial)
		}
		return r
	}
	wantUnissued := func(serial *big.Int) {
		t.Helper()
		req, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: serial}, e.p.Issuing, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := ask(req, serial)
		ext := false
		for _, x := range responseExtensions(t, r.TBSResponseData) {
			ext = ext || x.Id.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 9})
		}
		if r.Status != xocsp.Revoked || !r.RevokedAt.Equal(time.Unix(0, 0)) || r.RevocationReason != xocsp.CertificateHold || !ext {
			t.Fatalf("never-issued %x: status %d at %v reason %d extended-revoke %v", serial, r.Status, r.RevokedAt, r.RevocationReason, ext)
		}
	}
	if r := ask(goodReq, good.SerialNumber); r.Status != xocsp.Good {
		t.Fatalf("stored certificate: status %d", r.Status)
	}
	for i := range asked {
		b := make([]byte, 16)
		rand.Read(b)
		s := new(big.Int).SetBytes(b)
		s.SetBit(s, 127, 1) // positive and not one e.leaf made
		if i == 0 {
			first = s
		}
		wantUnissued(s)
		if n := e.auth.UnissuedCached(); n > cap {
			t.Fatalf("after %d serials: %d never-issued answers cached, cap %d", i+1, n, cap)
		}
	}
	if n := e.auth.UnissuedCached(); n != cap {
		t.Fatalf("%d never-issued answers cached, want %d", n, cap)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		if m.Gauge != nil {
			got[mf.GetName()] = m.Gauge.GetValue()
		} else if m.Counter != nil {
			got[mf.GetName()] = m.Counter.GetValue()
		}
	}
	if got["muhr_ocsp_unissued_cached"] != cap || got["muhr_ocsp_unissued_evicted_total"] != asked-cap {
		t.Fatalf("metrics %v", got)
	}
	// The stored certificate's answer was not evicted: no store read.
	reads := e.st.reads.Load()
	if r := ask(goodReq, good.SerialNumber); r.Status != xocsp.Good || e.st.reads.Load() != reads {
		t.Fatalf("stored certificate after the flood: status %d, store reads %d → %d", r.Status, reads, e.st.reads.Load())
	}
	// An evicted serial is read and signed again, with the same answer.
	wantUnissued(first)
	if e.st.reads.Load() != reads+1 {
		t.Fatalf("evicted serial: store reads %d → %d, want one", reads, e.st.reads.Load())
	}
}

// A serial asked about before its certificate was stored (answered as
// never issued) is answered with its real status after the next refresh
// round, not the cached never-issued answer.
func TestUnissuedAnswerReplacedOnceStored(t *testing.T) {
	e := newEnv(t)
	leaf, _ := e.leaf(t, false)
	req, err := xocsp.CreateRequest(leaf, e.p.Issuing, nil)
	if err != nil {
		t.Fatal(err)
	}
	status := func() int { t.Helper(); return certStatusOf(t, e, leaf, req) }
	if s := status(); s != xocsp.Revoked || e.auth.UnissuedCached() != 1 {
		t.Fatalf("before it is stored: status %d, %d cached", s, e.auth.UnissuedCached())
	}
	e.store(t, leaf)
	if _, err := e.auth.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != xocsp.Good || e.auth.UnissuedCached() != 0 {
		t.Fatalf("stored and refreshed: status %d, %d never-issued cached", s, e.auth.UnissuedCached())
	}
}

// A serial asked about before its certificate was stored gets the stored
// status within UnissuedRecheck, without waiting for a refresh round: no
// status-feed row tells other processes about an issuance.
func TestUnissuedAnswerRecheckedWithoutRefresh(t *testing.T) {
	e := newEnv(t)
	leaf, _ := e.leaf(t, false)
	req, err := xocsp.CreateRequest(leaf, e.p.Issuing, nil)
	if err != nil {
		t.Fatal(err)
	}
	status := func() int { t.Helper(); return certStatusOf(t, e, leaf, req) }
	start := time.Now()
	e.setNow(start)
	if s := status(); s != xocsp.Revoked {
		t.Fatalf("before it is stored: status %d", s)
	}
	e.store(t, leaf)
	e.setNow(start.Add(ocsp.UnissuedRecheck / 2))
	if s := status(); s != xocsp.Revoked {
		t.Fatalf("inside the recheck period the cached answer should be served: status %d", s)
	}
	e.setNow(start.Add(ocsp.UnissuedRecheck + time.Second))
	if s := status(); s != xocsp.Good {
		t.Fatalf("after the recheck period: status %d, want good (the stored certificate)", s)
	}
}

// certStatusOf POSTs req and returns the status the answer gives leaf.
func certStatusOf(t *testing.T, e *env, leaf *x509.Certificate, req []byte) int {
	t.Helper()
	_, b := post(t, e.url, "application/ocsp-request", req)
	r, err := xocsp.ParseResponseForCert(b, leaf, e.p.Issuing)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status
}
