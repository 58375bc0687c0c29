package pkcs11_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"runtime"
	"testing"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
)

// BenchmarkSign measures signatures per second through the token with one
// session and with one per CPU, next to Go's in-memory keys in the same run.
// This rate is the ceiling later issuance, OCSP and TSA benchmarks are
// reported against.
func BenchmarkSign(b *testing.B) {
	tok := testpki.SoftHSM(b)
	ctx := context.Background()
	open := func(n int) *pkcs11.Token {
		t, err := pkcs11.Open(ctx, tok.Config(n))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { t.Close() })
		return t
	}
	one, many := open(1), open(runtime.NumCPU())
	d := digest(crypto.SHA256, "benchmark")

	ecMem, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	rsaMem, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range []struct {
		alg hsm.KeyAlgorithm
		mem crypto.Signer
	}{{hsm.ECDSAP256, ecMem}, {hsm.RSA2048, rsaMem}} {
		label := "bench-" + string(k.alg)
		if _, err := one.Generate(ctx, label, k.alg); err != nil {
			b.Fatal(err)
		}
		s1, err := one.Signer(ctx, label)
		if err != nil {
			b.Fatal(err)
		}
		sN, err := many.Signer(ctx, label)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(k.alg)+"/token-1-session", func(b *testing.B) { signParallel(b, s1, d) })
		b.Run(fmt.Sprintf("%s/token-%d-sessions", k.alg, runtime.NumCPU()), func(b *testing.B) { signParallel(b, sN, d) })
		b.Run(string(k.alg)+"/go-in-memory", func(b *testing.B) { signParallel(b, k.mem, d) })
	}
}

// signParallel signs from GOMAXPROCS goroutines and reports signatures/s.
func signParallel(b *testing.B, s crypto.Signer, d []byte) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Sign(rand.Reader, d, crypto.SHA256); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
}
