package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/ocsp"
	"github.com/muhr-pki/muhr/server"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

// The OCSP signer's health check follows the responder: after the signer
// is renewed with a fresh key on the token and the responder reloads it,
// the check probes the new key on the token, and the old key (here: gone
// from the token) no longer fails it.
func TestOCSPSignerHealthFollowsRenewal(t *testing.T) {
	ctx := context.Background()
	st := tsatest.SQLite(t)
	pki := tsatest.NewPKI(t, st)
	auth, err := ocsp.New(ctx, ocsp.Options{Store: st, Keys: pki.Token, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	old, err := st.LatestSigner(ctx, store.SignerRoleOCSP, "qca-demo")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var probed []string
	gone := map[string]bool{}
	probe := func(label string) server.Checker {
		return server.CheckerFunc(func(ctx context.Context) error {
			mu.Lock()
			probed = append(probed, label)
			g := gone[label]
			mu.Unlock()
			if g {
				return fmt.Errorf("key %s is no longer on the token", label)
			}
			return pki.Token.ProbeKey(ctx, label) // a real signature on the token
		})
	}
	checks := ocspSignerChecks(auth, probe)
	var chk *server.Check
	for _, c := range checks {
		if c.Target == "ocsp signer of qca-demo" {
			chk = c
		}
	}
	if chk == nil || chk.Name != "hsm" {
		t.Fatalf("checks %+v", checks)
	}
	last := func() string { mu.Lock(); defer mu.Unlock(); return probed[len(probed)-1] }
	if err := chk.Probe.Check(ctx); err != nil || last() != old.KeyLabel {
		t.Fatalf("before renewal: %v, probed %s", err, last())
	}
	now := time.Now().Add(21 * 24 * time.Hour).Truncate(time.Second)
	rn := &ca.OCSPSignerRenewer{Store: st, Keys: pki.Token, CAs: []string{"qca-demo"}, PublicURL: "http://127.0.0.1:8080",
		Validity: 30 * 24 * time.Hour, Holder: "test", LeaseTTL: time.Minute, Now: func() time.Time { return now }}
	got, err := rn.Tick(ctx)
	if err != nil || len(got) != 1 {
		t.Fatalf("renew: %v, %v", got, err)
	}
	if n, err := auth.ReloadSigners(ctx); err != nil || n != 1 {
		t.Fatalf("reload: %d, %v", n, err)
	}
	mu.Lock()
	gone[old.KeyLabel] = true
	mu.Unlock()
	if err := chk.Probe.Check(ctx); err != nil || last() != got[0].Signer.KeyLabel {
		t.Fatalf("after renewal: %v, probed %s, want the new key %s", err, last(), got[0].Signer.KeyLabel)
	}
	// The check fails when the key in use cannot sign, naming it.
	mu.Lock()
	gone[got[0].Signer.KeyLabel] = true
	mu.Unlock()
	if err := chk.Probe.Check(ctx); err == nil {
		t.Fatal("the new key gone: check passed")
	} else {
		t.Logf("new key gone: %v", err)
	}
}
