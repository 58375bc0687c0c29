package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/ra"
	rat "github.com/muhr-pki/muhr/ra/ratest"
	"github.com/muhr-pki/muhr/store"
)

// `muhr cert resume` of a hold older than the maximum exits 1 with the
// server's message (now revoked, with the reason; issue a new certificate),
// and the certificate is revoked.
func TestOfficerResumeHoldPastMaximum(t *testing.T) {
	rc := newRACenter(t, "sqlite")
	ctx := context.Background()
	reg := rc.officer(t, "registrar1", "registrar")
	registrar, _ := rc.Officer(t, "registrar2", "registrar")
	approver, _ := rc.Officer(t, "approver1", "approver")
	sub, err := rc.Service.RegisterSubscriber(ctx, registrar, rat.Person("823456789014"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := rc.Service.Submit(ctx, registrar, ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: rat.CSR(t, rat.Key(t))})
	if err != nil {
		t.Fatal(err)
	}
	done, err := rc.Service.Approve(ctx, approver, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	past, err := ca.NewRevoker(ca.RevokerOptions{Store: rc.Store, Clock: func() time.Time { return time.Now().Add(-31 * 24 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	crt, err := rc.Service.GetCertificate(ctx, registrar, done.Serial)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := ra.ParseSerial(done.Serial)
	if _, err := past.Suspend(ctx, crt.IssuerCA, n, "duty-officer"); err != nil {
		t.Fatal(err)
	}
	r := muhrRun(t, "cert", "resume", done.Serial, "--config", reg).must(t, 1, "resume a hold past the maximum")
	for _, want := range []string{"now revoked", "reason unspecified", "issue the subscriber a new certificate"} {
		if !strings.Contains(r.errOut, want) {
			t.Errorf("message lacks %q:\n%s", want, r.errOut)
		}
	}
	t.Logf("muhr cert resume: exit 1: %s", r.errOut)
	if c, _ := rc.Store.GetCertificate(ctx, crt.IssuerCA, n); c.Status != store.CertStatusRevoked {
		t.Fatalf("certificate is %s", c.Status)
	}
}

// `muhr dev resume` takes revocation.max_hold from muhrd.yaml: a hold
// older than it is refused (exit 5, conflict) and made a revocation.
func TestDevResumeHoldPastMaximum(t *testing.T) {
	dir, cfg := testCenter(t)
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("revocation: {max_hold: 1s, hold_check_interval: 1s}\n")
	f.Close()
	c := buildCenter(t, dir, cfg)
	leaf := c.leaves[0]
	if out, err := run(t, "dev", "suspend", leaf.SerialNumber.Text(16), "--config", cfg); err != nil {
		t.Fatalf("dev suspend: %v\n%s", err, out)
	}
	time.Sleep(1100 * time.Millisecond)
	_, err = run(t, "dev", "resume", leaf.SerialNumber.Text(16), "--config", cfg)
	wantExit(t, "resume a hold past max_hold", err, exitConflict, "now revoked (reason unspecified")
	if got := certStatus(t, cfg, leaf); got.Status != store.CertStatusRevoked || *got.RevocationReason != store.ReasonUnspecified {
		t.Fatalf("after: %+v", got)
	}
}
