package csr

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/muhr-pki/muhr/internal/testpki"
)

// CSRs signed with RSASSA-PSS by OpenSSL, as subscribers make them: the
// default salt of OpenSSL 3.0 is the longest the key allows, which
// crypto/x509 alone calls an unknown signature algorithm.
func TestAcceptsOpenSSLPSS(t *testing.T) {
	bin := testpki.Tool(t, "openssl")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k.pem")
	if out, err := exec.Command(bin, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("openssl genpkey: %v\n%s", err, out)
	}
	for _, c := range []struct {
		name string
		args []string
		alg  x509.SignatureAlgorithm
	}{
		{"sha256 default salt", []string{"-sha256", "-sigopt", "rsa_padding_mode:pss"}, x509.SHA256WithRSAPSS},
		{"sha384 salt=digest", []string{"-sha384", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"}, x509.SHA384WithRSAPSS},
		{"sha512 salt=max", []string{"-sha512", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:max"}, x509.SHA512WithRSAPSS},
		{"sha256 salt=32 mgf1 sha256", []string{"-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-sigopt", "rsa_mgf1_md:sha256"}, x509.SHA256WithRSAPSS},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, "r.csr")
			args := append([]string{"req", "-new", "-key", keyFile, "-subj", "/CN=Muhr test", "-out", out}, c.args...)
			if b, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl %v: %v\n%s", args, err, b)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Intake(data, Options{})
			if err != nil {
				t.Fatalf("Intake: %v", err)
			}
			if got.SignatureAlgorithm != c.alg || got.Key != "RSA-2048" {
				t.Errorf("alg %v key %s; want %v", got.SignatureAlgorithm, got.Key, c.alg)
			}
			// And a byte of the signature changed is no proof of possession.
			req, _ := Parse(data)
			der := append([]byte(nil), req.Raw...)
			der[len(der)-3] ^= 0x40
			if _, err := Intake(der, Options{}); !errors.Is(err, ErrBadSignature) {
				t.Errorf("altered PSS signature: %v", err)
			}
		})
	}
}

// pssAlg encodes an id-RSASSA-PSS AlgorithmIdentifier by hand.
type pssSpec struct {
	absent     bool // no parameters at all
	hash       asn1.ObjectIdentifier
	hashParams []byte // nil: absent; else the encoded parameters
	mgf        asn1.ObjectIdentifier
	mgfHash    asn1.ObjectIdentifier
	salt       int // < 0: absent
	trailer    int // 0: absent
}

func (p pssSpec) encode(t testing.TB) []byte {
	alg := func(oid asn1.ObjectIdentifier, params []byte) []byte {
		return tlv(0x30, mustMarshal(t, oid), params)
	}
	if p.absent {
		return alg(oidRSASSAPSS, nil)
	}
	var fields [][]byte
	if p.hash != nil {
		fields = append(fields, tlv(0xa0, alg(p.hash, p.hashParams)))
	}
	if p.mgf != nil {
		fields = append(fields, tlv(0xa1, alg(p.mgf, alg(p.mgfHash, []byte{5, 0}))))
	}
	if p.salt >= 0 {
		fields = append(fields, tlv(0xa2, mustMarshal(t, p.salt)))
	}
	if p.trailer != 0 {
		fields = append(fields, tlv(0xa3, mustMarshal(t, p.trailer)))
	}
	return alg(oidRSASSAPSS, tlv(0x30, fields...))
}

func goodPSS(h asn1.ObjectIdentifier, salt int) pssSpec {
	return pssSpec{hash: h, hashParams: []byte{5, 0}, mgf: oidMGF1, mgfHash: h, salt: salt}
}

func pssCSR(t testing.TB, k *rsa.PrivateKey, spec pssSpec, h crypto.Hash, salt int) []byte {
	t.Helper()
	spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return buildCSR(t, spki, spec.encode(t), func(tbs []byte) []byte {
		hh := h.New()
		hh.Write(tbs)
		sig, err := rsa.SignPSS(rand.Reader, k, h, hh.Sum(nil), &rsa.PSSOptions{SaltLength: salt})
		if err != nil {
			t.Fatal(err)
		}
		return sig
	})
}

func TestPSSParameters(t *testing.T) {
	k := rsaKey(t, 2048)
	maxSalt := 256 - 32 - 2
	// Controls: the hand builder makes CSRs the intake accepts.
	for _, c := range []struct {
		name string
		spec pssSpec
		h    crypto.Hash
		salt int
		alg  x509.SignatureAlgorithm
	}{
		{"sha256 salt 32", goodPSS(oidSHA256, 32), crypto.SHA256, 32, x509.SHA256WithRSAPSS},
		{"sha256 salt max", goodPSS(oidSHA256, maxSalt), crypto.SHA256, maxSalt, x509.SHA256WithRSAPSS},
		{"sha384 salt 48, hash params absent", func() pssSpec { s := goodPSS(oidSHA384, 48); s.hashParams = nil; return s }(), crypto.SHA384, 48, x509.SHA384WithRSAPSS},
		{"sha512 salt 64", goodPSS(oidSHA512, 64), crypto.SHA512, 64, x509.SHA512WithRSAPSS},
	} {
		got, err := Intake(pssCSR(t, k, c.spec, c.h, c.salt), Options{})
		if err != nil || got.SignatureAlgorithm != c.alg {
			t.Errorf("%s: %v, alg %v", c.name, err, got)
		}
	}

	withMGF := func(h asn1.ObjectIdentifier) pssSpec { s := goodPSS(oidSHA256, 32); s.mgfHash = h; return s }
	for _, c := range []struct {
		name  string
		spec  pssSpec
		h     crypto.Hash
		salt  int
		kind  error
		words []string
	}{
		{"MGF1 with another hash", withMGF(oidSHA512), crypto.SHA256, 32, ErrWeakSignatureAlgorithm, []string{"MGF1 hash", "must be the same"}},
		{"MGF1 with SHA-1", withMGF(asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}), crypto.SHA256, 32, ErrWeakSignatureAlgorithm, []string{"MGF1 hash"}},
		{"trailer field 2", func() pssSpec { s := goodPSS(oidSHA256, 32); s.trailer = 2; return s }(), crypto.SHA256, 32, ErrWeakSignatureAlgorithm, []string{"trailer field 2"}},
		{"trailer field 1 spelt out", func() pssSpec { s := goodPSS(oidSHA256, 32); s.trailer = 1; return s }(), crypto.SHA256, 32, ErrMalformed, []string{"DEFAULT"}},
		{"no parameters (SHA-1)", pssSpec{absent: true}, crypto.SHA256, 32, ErrWeakSignatureAlgorithm, []string{"SHA-1"}},
		{"default hash (SHA-1)", func() pssSpec { s := goodPSS(oidSHA256, 32); s.hash = nil; return s }(), crypto.SHA256, 32, ErrWeakSignatureAlgorithm, []string{"SHA-1"}},
		{"SHA-1", goodPSS(asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}, 20), crypto.SHA1, 20, ErrWeakSignatureAlgorithm, []string{"1.3.14.3.2.26"}},
		{"default MGF (MGF1-SHA-1)", func() pssSpec { s := goodPSS(oidSHA256, 32); s.mgf = nil; return s }(), crypto.SHA256, 32, ErrWeakSignatureAlgorithm, []string{"MGF1-SHA-1"}},
		{"not MGF1", func() pssSpec { s := goodPSS(oidSHA256, 32); s.mgf = asn1.ObjectIdentifier{1, 2, 3}; return s }(), crypto.SHA256, 32, ErrWeakSignatureAlgorithm, []string{"only MGF1"}},
		{"default salt 20", goodPSS(oidSHA256, -1), crypto.SHA256, 20, ErrWeakSignatureAlgorithm, []string{"salt length 20"}},
		{"salt 20 stated", goodPSS(oidSHA256, 20), crypto.SHA256, 20, ErrWeakSignatureAlgorithm, []string{"salt of 20 bytes", "use 32", "or 222"}},
		{"salt stated 32, signed with max", goodPSS(oidSHA256, 32), crypto.SHA256, maxSalt, ErrBadSignature, []string{"RSA-PSS signature does not verify"}},
		{"hash parameters not NULL", func() pssSpec { s := goodPSS(oidSHA256, 32); s.hashParams = []byte{2, 1, 0}; return s }(), crypto.SHA256, 32, ErrMalformed, []string{"neither absent nor NULL"}},
		{"hash the parameters say differs", goodPSS(oidSHA384, 48), crypto.SHA256, 48, ErrBadSignature, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantKind(t, pssCSR(t, k, c.spec, c.h, c.salt), Options{}, c.kind, c.words...)
		})
	}
	t.Run("PSS on an EC key", func(t *testing.T) {
		spki, _ := x509.MarshalPKIXPublicKey(&p256Key().PublicKey)
		wantKind(t, buildCSR(t, spki, goodPSS(oidSHA256, 32).encode(t), ecSigner(p256Key(), crypto.SHA256)), Options{}, ErrBadSignature, "needs an RSA key")
	})
}
