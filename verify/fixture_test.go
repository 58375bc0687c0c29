package verify_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/muhr-pki/muhr/cades"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/tsa"
	"github.com/muhr-pki/muhr/verify"
)

// softPKI is a small hierarchy with software keys and one loopback server
// that plays every network part the validator talks to: an OCSP responder
// and CRLs of the issuing CA, AIA caIssuers, the center's real TSA code,
// and misbehaving URLs (hanging, endless, redirecting forever).
type softPKI struct {
	root, inter, tsaCert *x509.Certificate
	rootKey, interKey    *ecdsa.PrivateKey
	url                  string
	serial               atomic.Int64
	tsaTime              atomic.Pointer[time.Time] // nil: the real clock
	ocspHits             atomic.Int64
	// skew moves the responder's and CRLs' clock, as the validator's
	// injected clock is moved.
	skew atomic.Int64

	mu      sync.Mutex
	revoked map[string]time.Time // serial (hex) → revocation time
}

var oidEKU = asn1.ObjectIdentifier{2, 5, 29, 37}

func newSoftPKI(t testing.TB) *softPKI {
	t.Helper()
	p := &softPKI{revoked: map[string]time.Time{}}
	p.serial.Store(100)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.url = srv.URL
	now := time.Now()
	var err error
	p.rootKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.interKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rootT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Root", Country: []string{"TJ"}},
		NotBefore: now.Add(-10 * 24 * time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	p.root = mustCert(t, rootT, rootT, &p.rootKey.PublicKey, p.rootKey)
	interT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Test Issuing CA", Country: []string{"TJ"}},
		NotBefore: now.Add(-9 * 24 * time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, CRLDistributionPoints: []string{p.url + "/root.crl"}}
	p.inter = mustCert(t, interT, p.root, &p.interKey.PublicKey, p.rootKey)
	ekuTS, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	tsaKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tsaPolicy, _ := x509.ParseOID(tsa.DefaultPolicy.String())
	p.tsaCert = p.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Test TSA"}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore:       now.Add(-8 * 24 * time.Hour),
		Policies:        []x509.OID{tsaPolicy},
		ExtraExtensions: []pkix.Extension{{Id: oidEKU, Critical: true, Value: ekuTS}}}, &tsaKey.PublicKey)

	unit := &tsa.Unit{Signer: tsaKey, Cert: p.tsaCert, Chain: []*x509.Certificate{p.inter}, CAID: "test", Serial: p.tsaCert.SerialNumber, Digest: crypto.SHA256}
	ts, err := tsa.New(tsa.Options{Unit: unit, Ledger: nopLedger{}, Clock: clockFunc(func(context.Context) (time.Time, error) {
		if tt := p.tsaTime.Load(); tt != nil {
			return *tt, nil
		}
		return time.Now(), nil
	}), Accuracy: time.Second, Policies: []asn1.ObjectIdentifier{tsa.DefaultPolicy}})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("POST /tsa", ts)
	mux.HandleFunc("POST /ocsp", p.serveOCSP)
	mux.HandleFunc("GET /inter.crl", func(w http.ResponseWriter, r *http.Request) { p.serveCRL(w, p.inter, p.interKey, true) })
	mux.HandleFunc("GET /root.crl", func(w http.ResponseWriter, r *http.Request) { p.serveCRL(w, p.root, p.rootKey, false) })
	mux.HandleFunc("GET /inter.crt", func(w http.ResponseWriter, r *http.Request) { w.Write(p.inter.Raw) })
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so the server sees the client leave
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		// 1 GB of zeros, streamed: the client must stop reading at its limit.
		buf := make([]byte, 64<<10)
		for sent := 0; sent < 1<<30; sent += len(buf) {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop?"+r.URL.RawQuery+"x", http.StatusFound)
	})
	return p
}

type nopLedger struct{}

func (nopLedger) RecordToken(context.Context, store.TSAToken) error { return nil }

type clockFunc func(context.Context) (time.Time, error)

func (f clockFunc) Now(ctx context.Context) (time.Time, error) { return f(ctx) }

func mustCert(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// issue signs an end-entity certificate by the issuing CA, valid from a day
// ago for a year unless tmpl says otherwise, with OCSP, CRL and caIssuers
// URLs on the loopback server unless tmpl sets its own.
func (p *softPKI) issue(t testing.TB, tmpl *x509.Certificate, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(p.serial.Add(1))
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-24 * time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(365 * 24 * time.Hour)
	}
	if tmpl.OCSPServer == nil {
		tmpl.OCSPServer = []string{p.url + "/ocsp"}
	}
	if tmpl.CRLDistributionPoints == nil {
		tmpl.CRLDistributionPoints = []string{p.url + "/inter.crl"}
	}
	if tmpl.IssuingCertificateURL == nil {
		tmpl.IssuingCertificateURL = []string{p.url + "/inter.crt"}
	}
	return mustCert(t, tmpl, p.inter, pub, p.interKey)
}

// signer makes a signing certificate (nonRepudiation) and its key.
func (p *softPKI) signer(t testing.TB, mod func(*x509.Certificate)) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "Раҳимов Ҷамшед", Country: []string{"TJ"}}, KeyUsage: x509.KeyUsageContentCommitment}
	if mod != nil {
		mod(tmpl)
	}
	return p.issue(t, tmpl, &key.PublicKey), key
}

func (p *softPKI) revoke(c *x509.Certificate, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revoked[c.SerialNumber.Text(16)] = at
}

func (p *softPKI) serveOCSP(w http.ResponseWriter, r *http.Request) {
	p.ocspHits.Add(1)
	b, _ := io.ReadAll(io.LimitReader(r.Body, 10000))
	req, err := ocsp.ParseRequest(b)
	if err != nil {
		w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}
	now := time.Now().Add(time.Duration(p.skew.Load()))
	tmpl := ocsp.Response{SerialNumber: req.SerialNumber, Status: ocsp.Good, ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour)}
	p.mu.Lock()
	if at, ok := p.revoked[req.SerialNumber.Text(16)]; ok {
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, at, ocsp.KeyCompromise
	}
	p.mu.Unlock()
	der, err := ocsp.CreateResponse(p.inter, p.inter, tmpl, p.interKey)
	if err != nil {
		w.Write(ocsp.InternalErrorErrorResponse)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(der)
}

func (p *softPKI) serveCRL(w http.ResponseWriter, issuer *x509.Certificate, key crypto.Signer, withRevoked bool) {
	now := time.Now().Add(time.Duration(p.skew.Load()))
	tmpl := &x509.RevocationList{Number: big.NewInt(now.Unix()), ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour)}
	if withRevoked {
		p.mu.Lock()
		for s, at := range p.revoked {
			n, _ := new(big.Int).SetString(s, 16)
			tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: at})
		}
		p.mu.Unlock()
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer, key)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	w.Write(der)
}

func (p *softPKI) validator(t testing.TB, mod func(*verify.Options)) *verify.Validator {
	t.Helper()
	o := verify.Options{Roots: []*x509.Certificate{p.root}, Timeout: 2 * time.Second}
	if mod != nil {
		mod(&o)
	}
	v, err := verify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sign makes a CAdES signature with our signer package.
func (p *softPKI) sign(t testing.TB, doc []byte, cert *x509.Certificate, key crypto.Signer, withTSA, attached bool) []byte {
	t.Helper()
	o := cades.Options{Attached: attached, Chain: []*x509.Certificate{p.inter}}
	if withTSA {
		o.TSA = p.url + "/tsa"
	}
	b, err := cades.Sign(context.Background(), doc, cert, key, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func want(t testing.TB, got verify.Status, ind verify.Indication, sub verify.SubIndication) {
	t.Helper()
	if got.Indication != ind || got.SubIndication != sub {
		t.Fatalf("got %s/%s (%s), want %s/%s", got.Indication, got.SubIndication, got.Reason, ind, sub)
	}
}
