package verify_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/verify"
)

// The TSA's certificate is validated at the validation time the caller
// asks for: a TSA certificate revoked after the timestamp but before now
// leaves the signature INDETERMINATE/REVOKED_NO_POE now (genTime is the
// TSA's own claim, no proof of existence of its token), and TOTAL-PASSED
// when validated at a time between genTime and the revocation.
func TestTSACertificateValidatedAtValidationTime(t *testing.T) {
	p := newSoftPKI(t)
	ctx := context.Background()
	cert, key := p.signer(t, nil)
	made := time.Now().Add(-3 * time.Hour)
	p.tsaTime.Store(&made)
	sig := p.sign(t, doc, cert, key, true, false)
	p.tsaTime.Store(nil)
	p.revoke(p.tsaCert, time.Now().Add(-2*time.Hour))
	v := p.validator(t, nil)

	rep := v.Signature(ctx, sig, doc, nil)
	want(t, rep.Status, verify.Indeterminate, verify.RevokedNoPOE)
	if ts := rep.Signatures[0].Timestamp; ts == nil || ts.Certificate == nil || !strings.Contains(ts.Reason, "TSA certificate") {
		t.Fatalf("timestamp report %+v", ts)
	}
	at := time.Now().Add(-150 * time.Minute)
	rep = v.SignatureAt(ctx, sig, doc, nil, at)
	want(t, rep.Status, verify.Passed, "")
	ts := rep.Signatures[0].Timestamp
	if !ts.Certificate.At.Equal(at.UTC()) || !rep.ValidationTime.Equal(at.UTC()) {
		t.Fatalf("TSA certificate validated at %s, report at %s, want %s", ts.Certificate.At, rep.ValidationTime, at.UTC())
	}
	// The same TSA revoked before genTime: unusable at any validation
	// time after the revocation.
	// (A new validator: the first caches its answers until nextUpdate.)
	p.revoke(p.tsaCert, made.Add(-time.Hour))
	v = p.validator(t, nil)
	want(t, v.SignatureAt(ctx, sig, doc, nil, at).Status, verify.Indeterminate, verify.RevokedNoPOE)
	// A validation time before genTime: the token did not exist then.
	rep = v.SignatureAt(ctx, sig, doc, nil, made.Add(-time.Minute))
	want(t, rep.Status, verify.Indeterminate, verify.OutOfBoundsNoPOE)
	if !strings.Contains(rep.Status.Reason, "did not exist") {
		t.Errorf("reason %q", rep.Status.Reason)
	}
}

// A TSA certificate expired at the validation time but valid at genTime:
// without a later proof of existence of the token (an archive timestamp)
// the signature is INDETERMINATE/OUT_OF_BOUNDS_NO_POE; validated at a time
// within the TSA certificate's validity it passes.
func TestTSACertificateExpiredAtValidationTime(t *testing.T) {
	p := newSoftPKI(t)
	ctx := context.Background()
	cert, key := p.signer(t, nil)
	sig := p.sign(t, doc, cert, key, true, false)
	// The validator and the revocation sources 400 days on: the TSA and
	// the signer's certificates (a year) have expired, the CAs not.
	later := 400 * 24 * time.Hour
	p.skew.Store(int64(later))
	v := p.validator(t, func(o *verify.Options) { o.Clock = func() time.Time { return time.Now().Add(later) } })
	rep := v.Signature(ctx, sig, doc, nil)
	want(t, rep.Status, verify.Indeterminate, verify.OutOfBoundsNoPOE)
	if !strings.Contains(rep.Status.Reason, "TSA certificate") || !strings.Contains(rep.Status.Reason, "Test TSA") {
		t.Errorf("reason %q", rep.Status.Reason)
	}
	// Asked at a time the TSA certificate was valid (revocation answers
	// still judged fresh against the validator's clock).
	want(t, v.SignatureAt(ctx, sig, doc, nil, time.Now().Add(time.Minute)).Status, verify.Passed, "")
}

// POST /api/v1/validate?at= asks for a validation time as --at does; a
// time that does not parse is 400 with the format to use.
func TestValidateEndpointAt(t *testing.T) {
	p := newSoftPKI(t)
	cert, key := p.signer(t, nil)
	made := time.Now().Add(-3 * time.Hour)
	p.tsaTime.Store(&made)
	sig := p.sign(t, doc, cert, key, true, false)
	p.tsaTime.Store(nil)
	p.revoke(p.tsaCert, time.Now().Add(-2*time.Hour))
	srv := httptest.NewServer(verify.NewHandler(p.validator(t, nil), verify.HandlerOptions{}))
	defer srv.Close()
	if code, body := postValidate(t, srv.URL, map[string][]byte{"signature": sig, "content": doc}); code != 200 || !strings.Contains(body, "REVOKED_NO_POE") {
		t.Fatalf("now: %d %.500s", code, body)
	}
	at := time.Now().Add(-150 * time.Minute).UTC().Format(time.RFC3339)
	code, body := postValidate(t, srv.URL+"?at="+at, map[string][]byte{"signature": sig, "content": doc})
	var rep verify.Report
	if code != 200 || json.Unmarshal([]byte(body), &rep) != nil {
		t.Fatalf("at %s: %d %.500s", at, code, body)
	}
	want(t, rep.Status, verify.Passed, "")
	if code, body := postValidate(t, srv.URL+"?at=yesterday", map[string][]byte{"signature": sig, "content": doc}); code != 400 || !strings.Contains(body, "RFC 3339") {
		t.Fatalf("at=yesterday: %d %s", code, body)
	}
}
