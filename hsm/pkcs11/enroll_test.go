package pkcs11_test

import (
	"context"
	"errors"
	"testing"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
)

// Info and KeyProtection report what the token itself says: the evidence
// of an enrolment at the counter.
func TestInfoAndKeyProtection(t *testing.T) {
	tt := testpki.SoftHSM(t)
	ctx := context.Background()
	tok, err := pkcs11.Open(ctx, tt.Config(1))
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	info, err := tok.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Label != tt.Label || info.Serial == "" || info.Manufacturer != "SoftHSM project" || info.Model == "" {
		t.Fatalf("info %+v", info)
	}
	if _, err := tok.Generate(ctx, "card-key", hsm.ECDSAP256); err != nil {
		t.Fatal(err)
	}
	p, err := tok.KeyProtection(ctx, "card-key")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Sensitive || p.Extractable || !p.AlwaysSensitive || !p.NeverExtractable || !p.Local {
		t.Fatalf("generated key reads back as %+v", p)
	}
	if _, err := tok.KeyProtection(ctx, "no-such-key"); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("missing key: %v", err)
	}
}
