package pkcs11_test

import (
	"context"
	"crypto"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
)

func initToken(module, label string) error {
	return pkcs11.InitToken(module, label, []byte("so-pin-1234"), []byte("user-pin-1234"))
}

func TestOpenErrors(t *testing.T) {
	tok := testpki.SoftHSM(t)
	ctx := context.Background()

	wrong := []byte("wrong-pin-7c1e")
	_, err := pkcs11.Open(ctx, pkcs11.Config{Module: tok.Module, TokenLabel: tok.Label, PIN: wrong})
	if !errors.Is(err, hsm.ErrPINIncorrect) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("wrong PIN: %v", err)
	}
	if strings.Contains(err.Error(), string(wrong)) || strings.Contains(err.Error(), string(tok.PIN)) {
		t.Fatalf("error shows a PIN: %v", err)
	}

	missing := filepath.Join(t.TempDir(), "libnope.so")
	_, err = pkcs11.Open(ctx, pkcs11.Config{Module: missing, TokenLabel: tok.Label, PIN: tok.PIN})
	if !errors.Is(err, hsm.ErrModule) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("wrong module path: %v", err)
	}
	notLib := tok.PINFile // exists, but is no library
	_, err = pkcs11.Open(ctx, pkcs11.Config{Module: notLib, TokenLabel: tok.Label, PIN: tok.PIN})
	if !errors.Is(err, hsm.ErrModule) || !strings.Contains(err.Error(), notLib) {
		t.Fatalf("module that is not a library: %v", err)
	}

	_, err = pkcs11.Open(ctx, pkcs11.Config{Module: tok.Module, TokenLabel: "no-such-token", PIN: tok.PIN})
	if !errors.Is(err, hsm.ErrTokenNotFound) || !strings.Contains(err.Error(), `"no-such-token"`) || !strings.Contains(err.Error(), tok.Label) {
		t.Fatalf("unknown token label: %v", err)
	}

	// The right PIN still works after the wrong one.
	ok, err := pkcs11.Open(ctx, tok.Config(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := ok.Health(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := ok.Generate(ctx, "k", hsm.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	ok.Close()
	if err := ok.Health(ctx); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Health after Close: %v", err)
	}
	// Signing after Close fails at once rather than waiting for a session.
	for range 3 {
		if _, err := s.Sign(nil, make([]byte, 32), crypto.SHA256); !errors.Is(err, hsm.ErrUnavailable) {
			t.Fatalf("Sign after Close: %v", err)
		}
	}
}
