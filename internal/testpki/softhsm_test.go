package testpki

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/secret"
)

func TestSoftHSM(t *testing.T) {
	a := SoftHSM(t)
	b := SoftHSM(t)
	if a.Label == b.Label || string(a.PIN) == string(b.PIN) {
		t.Fatalf("two tokens share a label or PIN: %q %q", a.Label, b.Label)
	}
	if len(a.Label) > 32 || !strings.HasPrefix(a.Label, "TestSoftHSM-") {
		t.Fatalf("label %q", a.Label)
	}
	if os.Getenv("SOFTHSM2_CONF") != a.Conf || a.Conf != b.Conf {
		t.Fatalf("SOFTHSM2_CONF = %q, tokens use %q and %q", os.Getenv("SOFTHSM2_CONF"), a.Conf, b.Conf)
	}
	for _, f := range []string{a.PINFile, a.SOPINFile} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("PIN file %s: %v, mode %v", f, err, fi.Mode())
		}
	}
	pin, err := secret.ReadFile(a.PINFile)
	if err != nil || string(pin) != string(a.PIN) {
		t.Fatalf("secret.ReadFile = %q, %v", pin, err)
	}

	// Both tokens, made after the module was first initialised, are usable.
	ctx := context.Background()
	for _, tok := range []SoftHSMToken{a, b} {
		k, err := pkcs11.Open(ctx, tok.Config(1))
		if err != nil {
			t.Fatalf("open %s: %v", tok.Label, err)
		}
		if err := k.Health(ctx); err != nil {
			t.Fatalf("health %s: %v", tok.Label, err)
		}
		keys, err := k.Keys(ctx)
		if err != nil || len(keys) != 0 {
			t.Fatalf("fresh token %s has keys %v, %v", tok.Label, keys, err)
		}
		k.Close()
	}
	// The same label twice is refused.
	if err := pkcs11.InitToken(a.Module, a.Label, a.SOPIN, a.PIN); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("InitToken with a taken label: %v", err)
	}
}

func TestTokenLabel(t *testing.T) {
	long := tokenLabel("TestSomething/with a very long subtest name that goes on")
	if len(long) > 32 || strings.ContainsAny(long, " /") {
		t.Fatalf("label %q", long)
	}
	if tokenLabel("T") == tokenLabel("T") {
		t.Fatal("labels repeat")
	}
}
