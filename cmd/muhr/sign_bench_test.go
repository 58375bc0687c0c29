package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

// BenchmarkMuhrSignProcess: `muhr sign --key pkcs11:...` as a process per
// document (start, module load, login, find the key, sign, write), the
// key on SoftHSM2 (scripts/bench/verify.sh).
func BenchmarkMuhrSignProcess(b *testing.B) {
	ctx := context.Background()
	soft := testpki.SoftHSM(b)
	tok, err := pkcs11.Open(ctx, soft.Config(1))
	if err != nil {
		b.Fatal(err)
	}
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
	tok.Close()
	cert, _ := x509.ParseCertificate(der)
	dir := b.TempDir()
	certPath := tsatest.WritePEM(b, dir, "cert.pem", cert)
	doc := filepath.Join(dir, "doc")
	os.WriteFile(doc, make([]byte, 64<<10), 0o644)
	uri := "pkcs11:token=" + soft.Label + ";object=bench-signer?module-path=" + soft.Module
	args := []string{"sign", "--in", doc, "--out", filepath.Join(dir, "doc.p7s"), "--key", uri, "--cert", certPath, "--pin-file", soft.PINFile}
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), cliEnv+"="+strings.Join(args, "\n"))
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v %s", err, out)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signatures/s")
}
