package csr

import (
	"testing"
)

// BenchmarkCheckRSA2048 is the whole Check of an RSA-2048 CSR: DER walk,
// key policy, signature, and the factoring checks.
func BenchmarkCheckRSA2048(b *testing.B) {
	req, err := Parse(stdCSR(b, rsaKey(b, 2048), nil))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Check(req, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWeakRSA2048 splits the factoring checks' cost.
func BenchmarkWeakRSA2048(b *testing.B) {
	n := rsaKey(b, 2048).N
	b.Run("small-factors", func(b *testing.B) {
		for b.Loop() {
			smallFactor(n)
		}
	})
	b.Run("fermat-100", func(b *testing.B) {
		for b.Loop() {
			fermatFactor(n, DefaultFermatRounds)
		}
	})
	b.Run("roca", func(b *testing.B) {
		for b.Loop() {
			hasROCAFingerprint(n)
		}
	})
}

// BenchmarkVerifyRSA2048 is the signature check alone, for comparison.
func BenchmarkVerifyRSA2048(b *testing.B) {
	req, err := Parse(stdCSR(b, rsaKey(b, 2048), nil))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := req.CheckSignature(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIntakeP256(b *testing.B) {
	der := stdCSR(b, p256Key(), nil)
	for b.Loop() {
		if _, err := Intake(der, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
