package ocsp_test

import (
	"context"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/store"
)

// With the clock moved past two thirds of the signer's 30 days, the
// renewer (under its lease, once) generates a fresh key on the token and
// has the CA certify it, audited; the Authority keeps answering with the
// old signer until it reloads, then re-signs its cache, and openssl
// verifies the answers made by the new one.
func TestOCSPSignerRenewal(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	good, goodPEM := e.leaf(t, true)
	oldSigner, err := e.p.Store.LatestSigner(ctx, store.SignerRoleOCSP, caID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	renewer := func(holder string, now time.Time) *ca.OCSPSignerRenewer {
		return &ca.OCSPSignerRenewer{Store: e.p.Store, Keys: e.p.Token, CAs: []string{caID}, PublicURL: "http://127.0.0.1:8080",
			Validity: 30 * 24 * time.Hour, Holder: holder, LeaseTTL: time.Minute, Now: func() time.Time { return now }}
	}
	// Not yet due: nothing made.
	if got, err := renewer("a", time.Now().Add(19*24*time.Hour)).Tick(ctx); err != nil || len(got) != 0 {
		t.Fatalf("at 19 of 30 days: renewed %v, %v; want nothing", got, err)
	}
	moved := time.Now().Add(21 * 24 * time.Hour).Truncate(time.Second)
	// Another process holds the lease: it does nothing.
	if ok, err := e.p.Store.AcquireLease(ctx, ca.OCSPSignerLeaseName, "other", moved, time.Hour); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if got, err := renewer("b", moved).Tick(ctx); err != nil || len(got) != 0 {
		t.Fatalf("without the lease: renewed %v, %v", got, err)
	}
	if err := e.p.Store.ReleaseLease(ctx, ca.OCSPSignerLeaseName, "other"); err != nil {
		t.Fatal(err)
	}
	r := renewer("a", moved)
	got, err := r.Tick(ctx)
	if err != nil || len(got) != 1 {
		t.Fatalf("at 21 of 30 days: renewed %v, %v; want the signer of %s", got, err, caID)
	}
	ns := got[0].Signer
	if ns.KeyLabel == oldSigner.KeyLabel || got[0].OldLabel != oldSigner.KeyLabel || !strings.HasPrefix(ns.KeyLabel, caID+"-ocsp-") {
		t.Fatalf("new key label %q (old %q)", ns.KeyLabel, oldSigner.KeyLabel)
	}
	cert, err := x509.ParseCertificate(ns.CertDER)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(e.p.Issuing); err != nil {
		t.Fatalf("new signer certificate not signed by %s: %v", caID, err)
	}
	if !cert.NotBefore.Equal(moved) || cert.NotAfter.Sub(cert.NotBefore) != 30*24*time.Hour ||
		!slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}) {
		t.Fatalf("new signer certificate %v – %v, EKU %v", cert.NotBefore, cert.NotAfter, cert.ExtKeyUsage)
	}
	oldCert, _ := x509.ParseCertificate(oldSigner.CertDER)
	if cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(oldCert.PublicKey) {
		t.Fatal("the renewed signer has the old key")
	}
	if cert.Subject.String() != oldCert.Subject.String() {
		t.Errorf("subject %q, was %q", cert.Subject, oldCert.Subject)
	}
	if latest, err := e.p.Store.LatestSigner(ctx, store.SignerRoleOCSP, caID); err != nil || latest.KeyLabel != ns.KeyLabel {
		t.Fatalf("LatestSigner %q, %v; want %q", latest.KeyLabel, err, ns.KeyLabel)
	}
	// The key is on the token, sensitive and not extractable.
	keys, err := e.p.Token.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range keys {
		if k.Label == ns.KeyLabel {
			found = k.Sensitive && !k.Extractable
		}
	}
	if !found {
		t.Errorf("key %s not on the token as sensitive and non-extractable", ns.KeyLabel)
	}
	// Audited: key.generate, cert.issue and ocsp.signer.renew.
	recs, err := e.p.Store.AuditRecords(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var renewed map[string]any
	gen := false
	for _, rec := range recs {
		switch {
		case rec.Action == ca.ActionOCSPSignerRenew && rec.Object == "ca/"+caID:
			if err := json.Unmarshal(rec.Details, &renewed); err != nil {
				t.Fatal(err)
			}
		case rec.Action == "key.generate" && rec.Object == "key/"+ns.KeyLabel:
			gen = true
		}
	}
	if !gen || renewed["old_key_label"] != oldSigner.KeyLabel || renewed["new_key_label"] != ns.KeyLabel ||
		renewed["new_serial"] != ns.Serial.Text(16) {
		t.Fatalf("audit: key.generate %v, renew %v", gen, renewed)
	}
	// Once renewed, not again.
	if again, err := r.Tick(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second tick renewed %v, %v", again, err)
	}

	// The responder still signs with the old signer until it reloads.
	e.setNow(moved.Add(time.Minute))
	if k := responderKey(t, e, good); k != keyID(t, oldCert) {
		t.Fatalf("before reload answered by %s, want the old signer", k)
	}
	if n, err := e.auth.ReloadSigners(ctx); err != nil || n != 1 {
		t.Fatalf("ReloadSigners: %d, %v", n, err)
	}
	if l := e.auth.SignerLabels(); !slices.Contains(l, ns.KeyLabel) || slices.Contains(l, oldSigner.KeyLabel) {
		t.Fatalf("signing with %v, want %s instead of %s", l, ns.KeyLabel, oldSigner.KeyLabel)
	}
	// The cache is re-signed by the new signer at the next refresh.
	if n, err := e.auth.Refresh(ctx); err != nil || n == 0 {
		t.Fatalf("refresh after the new signer: %d, %v", n, err)
	}
	if k := responderKey(t, e, good); k != keyID(t, cert) {
		t.Fatalf("after reload answered by %s, want the new signer %s", k, keyID(t, cert))
	}
	// openssl, at the moved time, verifies the new signer's answers
	// through the chain (its certificate is in the response).
	at := strconv.FormatInt(moved.Add(time.Hour).Unix(), 10)
	for _, flag := range []string{"-no_nonce", "-nonce"} {
		out := e.openssl(t, flag, "-attime", at, "-cert", goodPEM, "-url", e.url)
		// The status times are in the moved future, which openssl warns
		// about (it has no -attime for them); the signature and chain
		// verify at -attime.
		mustContain(t, out, "Response verify OK", "good\n\tThis Update", "Responder Id:")
		if !strings.Contains(strings.ReplaceAll(out, ":", ""), strings.ToUpper(keyID(t, cert))) {
			t.Errorf("%s: responder id is not the new signer's key hash %s:\n%s", flag, keyID(t, cert), out)
		}
	}
}

// responderKey is the hex responderID byKey of the cached answer for c.
func responderKey(t *testing.T, e *env, c *x509.Certificate) string {
	t.Helper()
	req, err := xocsp.CreateRequest(c, e.p.Issuing, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, resp := post(t, e.url, "application/ocsp-request", req)
	r, err := xocsp.ParseResponse(resp, nil)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(r.ResponderKeyHash)
}

func keyID(t *testing.T, c *x509.Certificate) string {
	t.Helper()
	var spki struct {
		Alg asn1.RawValue
		Key asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil {
		t.Fatal(err)
	}
	h := sha1.Sum(spki.Key.RightAlign())
	return hex.EncodeToString(h[:])
}
