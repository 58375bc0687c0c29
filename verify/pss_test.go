package verify_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/internal/cms"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/verify"
)

// opensslPSS signs doc with openssl cms -cades and RSASSA-PSS, with the
// extra -keyopt values given, and returns the DER signature.
func opensslPSS(t *testing.T, dir string, cert *x509.Certificate, key *rsa.PrivateKey, doc []byte, md string, keyopts ...string) []byte {
	t.Helper()
	certPath, keyPath, docPath, out := filepath.Join(dir, "signer.pem"), filepath.Join(dir, "signer.key"), filepath.Join(dir, "doc"), filepath.Join(dir, "doc.p7s")
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	for p, b := range map[string][]byte{
		certPath: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		keyPath:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}),
		docPath:  doc,
	} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"cms", "-sign", "-binary", "-cades", "-in", docPath, "-signer", certPath, "-inkey", keyPath,
		"-md", md, "-outform", "DER", "-out", out, "-keyopt", "rsa_padding_mode:pss"}
	for _, k := range keyopts {
		args = append(args, "-keyopt", k)
	}
	if b, err := exec.Command(testpki.Tool(t, "openssl"), args...).CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RSASSA-PSS signatures made by openssl verify, with the salt length their
// parameters state; a tampered one is SIG_CRYPTO_FAILURE; parameters this
// validator does not take (MGF1 with another hash) are INDETERMINATE
// CRYPTO_CONSTRAINTS_FAILURE, never a pass.
func TestOpenSSLRSAPSSSignature(t *testing.T) {
	p := newSoftPKI(t)
	v := p.validator(t, nil)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cert := p.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "RSA Signer", Country: []string{"TJ"}},
		KeyUsage: x509.KeyUsageContentCommitment | x509.KeyUsageDigitalSignature}, &key.PublicKey)
	doc := []byte("order 18/2026: RSASSA-PSS\n")
	dir := t.TempDir()
	ctx := context.Background()
	extra := []*x509.Certificate{p.inter}

	for _, c := range []struct {
		md   string
		opts []string
		want string
	}{
		{"sha256", []string{"rsa_pss_saltlen:32"}, "RSASSA-PSS SHA-256 MGF1-SHA-256 salt 32"},
		{"sha384", []string{"rsa_pss_saltlen:48"}, "RSASSA-PSS SHA-384 MGF1-SHA-384 salt 48"},
		// A salt other than the hash length: x509's PSS check would refuse it.
		{"sha512", []string{"rsa_pss_saltlen:20"}, "RSASSA-PSS SHA-512 MGF1-SHA-512 salt 20"},
	} {
		sig := opensslPSS(t, dir, cert, key, doc, c.md, c.opts...)
		rep := v.Signature(ctx, sig, doc, extra)
		want(t, rep.Status, verify.Passed, "")
		if !hasCheck(rep.Signatures[0].Checks, "signature", true, c.want) {
			t.Errorf("%s: checks %+v", c.md, rep.Signatures[0].Checks)
		}
	}

	// Tampered: the last octet of the signature value flipped.
	sig := opensslPSS(t, dir, cert, key, doc, "sha256", "rsa_pss_saltlen:32")
	sd, err := cms.ParseSignedData(sig)
	if err != nil {
		t.Fatal(err)
	}
	sv := sd.Signers[0].Signature
	i := bytes.Index(sig, sv)
	if i < 0 {
		t.Fatal("signature value not found in the DER")
	}
	bad := bytes.Clone(sig)
	bad[i+len(sv)-1] ^= 1
	want(t, v.Signature(ctx, bad, doc, extra).Status, verify.Failed, verify.SigCryptoFailure)

	// MGF1 with SHA-384 under a SHA-256 message hash: not accepted.
	sig = opensslPSS(t, dir, cert, key, doc, "sha256", "rsa_pss_saltlen:32", "rsa_mgf1_md:sha384")
	rep := v.Signature(ctx, sig, doc, extra)
	want(t, rep.Status, verify.Indeterminate, verify.CryptoConstraintsFail)
	if !strings.Contains(rep.Status.Reason, "MGF1 hash") {
		t.Errorf("reason %q", rep.Status.Reason)
	}
}

func hasCheck(cs []verify.Check, name string, ok bool, detail string) bool {
	for _, c := range cs {
		if c.Name == name && c.OK == ok && c.Detail == detail {
			return true
		}
	}
	return false
}

// A chain whose certificates are signed with RSASSA-PSS validates: x509
// checks PSS certificate signatures itself.
func TestPSSSignedChain(t *testing.T) {
	rootKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	leafKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Now()
	rootT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "PSS Root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, SignatureAlgorithm: x509.SHA256WithRSAPSS}
	root := mustCert(t, rootT, rootT, &rootKey.PublicKey, rootKey)
	leaf := mustCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "PSS Leaf"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageContentCommitment,
		SignatureAlgorithm: x509.SHA384WithRSAPSS}, root, &leafKey.PublicKey, rootKey)
	v, err := verify.New(verify.Options{Roots: []*x509.Certificate{root}})
	if err != nil {
		t.Fatal(err)
	}
	r := v.Certificate(context.Background(), leaf, nil, now, false, verify.UsageSigning)
	// No revocation location: TRY_LATER, but the chain and its signatures
	// passed.
	if len(r.Chain) != 2 || !hasCheck(r.Checks, "signatures", true, "each certificate's signature verifies with its issuer's key") {
		t.Fatalf("%s/%s %s %+v", r.Indication, r.SubIndication, r.Reason, r.Checks)
	}
	// The same leaf with its signature broken fails the chain.
	broken := bytes.Clone(leaf.Raw)
	broken[len(broken)-1] ^= 1
	bl, err := x509.ParseCertificate(broken)
	if err != nil {
		t.Fatal(err)
	}
	if r := v.Certificate(context.Background(), bl, nil, now, false, verify.UsageSigning); r.Indication == verify.Passed || len(r.Chain) != 0 {
		t.Fatalf("broken PSS signature: %s/%s %s", r.Indication, r.SubIndication, r.Reason)
	}
}
