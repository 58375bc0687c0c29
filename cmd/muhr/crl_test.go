package main

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/store"
)

func TestCRLGenerate(t *testing.T) {
	dir, cfg := testCenter(t)
	if out, err := run(t, "db", "migrate", "--config", cfg); err != nil {
		t.Fatalf("db migrate: %v\n%s", err, out)
	}
	plan, err := os.ReadFile("../../configs/ceremony-demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	planPath := filepath.Join(dir, "ceremony.yaml")
	os.WriteFile(planPath, plan, 0o600)
	if out, err := run(t, "ceremony", "run", "--config", planPath, "--ca-dir", filepath.Join(dir, "ca")); err != nil {
		t.Fatalf("ceremony: %v\n%s", err, out)
	}
	out, err := run(t, "crl", "generate", "--config", cfg, "--ca", "qca-demo")
	if err != nil || !strings.HasPrefix(out, "crl qca-demo #2: 0 entries") || strings.Count(out, "\n") != 1 {
		t.Fatalf("crl generate --ca: %v\n%s", err, out)
	}
	out, err = run(t, "crl", "generate", "--config", cfg)
	if err != nil {
		t.Fatalf("crl generate: %v\n%s", err, out)
	}
	for _, want := range []string{"crl root-demo #2:", "crl qca-demo #3:", "crl svc-demo #2:", "crl mgmt-demo #2:"} {
		if !strings.Contains(out, want) {
			t.Fatalf("crl generate: no %q in\n%s", want, out)
		}
	}
	s, err := openStoreFromConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	latest, err := s.LatestCRL(t.Context(), "qca-demo")
	if err != nil {
		t.Fatal(err)
	}
	rl, err := x509.ParseRevocationList(latest.DER)
	if err != nil || rl.Number.Int64() != 3 {
		t.Fatalf("stored CRL: %v %v", rl, err)
	}
	_, err = run(t, "crl", "generate", "--config", cfg, "--ca", "nope")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown CA: %v", err)
	}
	if code, _ := exitFor(err); code != exitNotFound {
		t.Fatalf("unknown CA exits %d", code)
	}
}
