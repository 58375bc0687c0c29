package cades_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/cades"
	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
)

// BenchmarkSignSoftHSM: CAdES-B signatures per second with the key on
// SoftHSM2 through hsm/pkcs11 (what `muhr sign --key pkcs11:...` does per
// document, minus the process start and login), next to the token's raw
// signing rate, in the same run (scripts/bench/verify.sh).
func BenchmarkSignSoftHSM(b *testing.B) {
	ctx := context.Background()
	soft := testpki.SoftHSM(b)
	tok, err := pkcs11.Open(ctx, soft.Config(4))
	if err != nil {
		b.Fatal(err)
	}
	defer tok.Close()
	key, err := tok.Generate(ctx, "bench-signer", hsm.ECDSAP256)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageContentCommitment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		b.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	doc := make([]byte, 64<<10)
	b.Run("cades-b-softhsm", func(b *testing.B) {
		for b.Loop() {
			if _, err := cades.Sign(ctx, doc, cert, key, cades.Options{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signatures/s")
	})
	b.Run("raw-softhsm-sign", func(b *testing.B) {
		h := sha256.Sum256(doc)
		for b.Loop() {
			if _, err := key.Sign(rand.Reader, h[:], crypto.SHA256); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signatures/s")
	})
}
