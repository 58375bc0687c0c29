package ocsp_test

import (
	"context"
	"crypto"
	"crypto/x509/pkix"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/muhr-pki/muhr/store"
)

// A nonce request is signed live with the nonce echoed, but its status
// comes from a fresh cached answer without a store read; once the status
// changes (Invalidate, as the status feed does) the next one reads it.
func TestNonceUsesFreshCachedStatus(t *testing.T) {
	e := newEnv(t)
	leaf, _ := e.leaf(t, true)
	if _, err := e.auth.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	ask := func(nonce byte) *xocsp.Response {
		t.Helper()
		req := marshal(t, tReq{tTBS{List: certIDs(e.p.Issuing, crypto.SHA1, leaf.SerialNumber),
			Exts: []pkix.Extension{nonceExt([]byte{nonce, 1, 2, 3, 4, 5, 6, 7})}}})
		_, body := post(t, e.url, "application/ocsp-request", req)
		r, err := xocsp.ParseResponseForCert(body, leaf, e.p.Issuing)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	before := e.st.reads.Load()
	for i := range 3 {
		if r := ask(byte(i)); r.Status != xocsp.Good || time.Since(r.ProducedAt) > time.Minute {
			t.Fatalf("status %d produced %v", r.Status, r.ProducedAt)
		}
	}
	if n := e.st.reads.Load() - before; n != 0 {
		t.Fatalf("%d store reads for nonce requests about a freshly cached certificate", n)
	}
	e.setStatus(t, leaf.SerialNumber, store.CertStatusRevoked, time.Now().Add(-time.Minute), 1)
	if r := ask(9); r.Status != xocsp.Revoked {
		t.Fatalf("after the revocation: status %d", r.Status)
	}
	if n := e.st.reads.Load() - before; n != 1 {
		t.Fatalf("%d store reads after the change, want 1", n)
	}
}
