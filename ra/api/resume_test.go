package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/ra"
	"github.com/muhr-pki/muhr/ra/ratest"
)

// POST /certificates/{serial}/resume of a hold older than the maximum:
// 409 with state "revoked" and a message saying what happened and what to
// do; the certificate is revoked from then on (what OCSP and the CRL say),
// reason unspecified, since the hold began.
func TestResumeHoldPastMaximumIs409(t *testing.T) {
	e := newEnv(t, "sqlite")
	ctx := context.Background()
	registrar, regCert := e.c.Officer(t, "registrar1", "registrar")
	approver, _ := e.c.Officer(t, "approver1", "approver")
	sub, err := e.c.Service.RegisterSubscriber(ctx, registrar, ratest.Person("823456789013"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := e.c.Service.Submit(ctx, registrar, ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t))})
	if err != nil {
		t.Fatal(err)
	}
	done, err := e.c.Service.Approve(ctx, approver, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	// A hold that began 31 days ago (the default maximum is 30 days).
	heldAt := time.Now().Add(-31 * 24 * time.Hour).UTC().Truncate(time.Second)
	past, err := ca.NewRevoker(ca.RevokerOptions{Store: e.c.Store, Clock: func() time.Time { return heldAt }})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.c.Service.GetCertificate(ctx, registrar, done.Serial)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := ra.ParseSerial(done.Serial)
	if _, err := past.Suspend(ctx, c.IssuerCA, n, "duty-officer"); err != nil {
		t.Fatal(err)
	}
	cl := e.client(&regCert)
	r := e.do(t, cl, http.MethodPost, "/certificates/"+done.Serial+"/resume", map[string]any{})
	kind, _, state, msg := r.errField(t)
	if r.code != http.StatusConflict || kind != "conflict" || state != "revoked" || !strings.Contains(msg, "now revoked") ||
		!strings.Contains(msg, "reason unspecified") || !strings.Contains(msg, "new certificate") {
		t.Fatalf("resume: %d %s", r.code, r.body)
	}
	t.Logf("resume: %d %s", r.code, msg)
	var got ra.Certificate
	decodeInto(t, e.do(t, cl, http.MethodGet, "/certificates/"+done.Serial, nil), http.StatusOK, &got)
	if got.Status != "revoked" || got.Revocation == nil || got.Revocation.Reason != "unspecified" || !got.Revocation.Time.Equal(heldAt) {
		t.Fatalf("after: %+v %+v", got, got.Revocation)
	}
	if recs := auditActions(t, e.c.Store, ca.ActionRevoke); len(recs) != 1 || recs[0].Actor != ca.DefaultHoldActor {
		t.Fatalf("revocation records %+v", recs)
	}
}
