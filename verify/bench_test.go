package verify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/tsa/tsatest"
	"github.com/muhr-pki/muhr/verify"
)

// BenchmarkValidateCAdEST: validations per second of one CAdES-T
// (ECDSA P-256 signer and TSA, chain of three) with the OCSP and CRL
// answers cached, next to the raw ECDSA verification rate and
// `openssl cms -verify` as a process per signature, in the same run
// (scripts/bench/verify.sh).
func BenchmarkValidateCAdEST(b *testing.B) {
	p := newSoftPKI(b)
	cert, key := p.signer(b, nil)
	doc := make([]byte, 64<<10)
	sig := p.sign(b, doc, cert, key, true, false)
	v := p.validator(b, nil)
	ctx := context.Background()
	if rep := v.Signature(ctx, sig, doc, nil); rep.Indication != verify.Passed {
		b.Fatal(rep.Status)
	}
	b.Run("muhr-verify", func(b *testing.B) {
		for b.Loop() {
			if rep := v.Signature(ctx, sig, doc, nil); rep.Indication != verify.Passed {
				b.Fatal(rep.Status)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "validations/s")
	})
	b.Run("raw-ecdsa-verify", func(b *testing.B) {
		h := sha256.Sum256(doc)
		s, _ := ecdsa.SignASN1(nil, key, h[:])
		for b.Loop() {
			if !ecdsa.VerifyASN1(&key.PublicKey, h[:], s) {
				b.Fatal("verify")
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
	})
	b.Run("openssl-cms-verify-process", func(b *testing.B) {
		openssl := testpki.Tool(b, "openssl")
		dir := b.TempDir()
		docPath, sigPath := filepath.Join(dir, "doc"), filepath.Join(dir, "doc.p7s")
		os.WriteFile(docPath, doc, 0o644)
		os.WriteFile(sigPath, sig, 0o644)
		root := tsatest.WritePEM(b, dir, "root.pem", p.root)
		for b.Loop() {
			out, err := exec.Command(openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", sigPath, "-content", docPath,
				"-CAfile", root, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
			if err != nil {
				b.Fatalf("%v %s", err, out)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
	})
}
