package csr

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
)

func TestAcceptsGoodCSRs(t *testing.T) {
	cases := []struct {
		name string
		csr  func(t *testing.T) []byte
		key  string
		alg  x509.SignatureAlgorithm
	}{
		{"P-256 DER", func(t *testing.T) []byte { return stdCSR(t, p256Key(), nil) }, "ECDSA P-256", x509.ECDSAWithSHA256},
		{"P-384 PEM", func(t *testing.T) []byte {
			return toPEM(stdCSR(t, p384Key(), &x509.CertificateRequest{SignatureAlgorithm: x509.ECDSAWithSHA384}))
		}, "ECDSA P-384", x509.ECDSAWithSHA384},
		{"P-256 signed with SHA-512", func(t *testing.T) []byte {
			return stdCSR(t, p256Key(), &x509.CertificateRequest{SignatureAlgorithm: x509.ECDSAWithSHA512})
		}, "ECDSA P-256", x509.ECDSAWithSHA512},
		{"RSA-2048 PEM", func(t *testing.T) []byte { return toPEM(stdCSR(t, rsaKey(t, 2048), nil)) }, "RSA-2048", x509.SHA256WithRSA},
		{"RSA-2048 PSS", func(t *testing.T) []byte {
			return stdCSR(t, rsaKey(t, 2048), &x509.CertificateRequest{SignatureAlgorithm: x509.SHA256WithRSAPSS})
		}, "RSA-2048", x509.SHA256WithRSAPSS},
		{"RSA-3072 SHA-384", func(t *testing.T) []byte {
			return stdCSR(t, rsaKey(t, 3072), &x509.CertificateRequest{SignatureAlgorithm: x509.SHA384WithRSA})
		}, "RSA-3072", x509.SHA384WithRSA},
		{"RSA-4096", func(t *testing.T) []byte { return stdCSR(t, rsaKey(t, 4096), nil) }, "RSA-4096", x509.SHA256WithRSA},
		{"old PEM label, CRLF and blank lines around", func(t *testing.T) []byte {
			b := pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: stdCSR(t, p256Key(), nil)})
			return append(append([]byte("\r\n\n  "), bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))...), "\n\n"...)
		}, "ECDSA P-256", x509.ECDSAWithSHA256},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Intake(tc.csr(t), Options{})
			if err != nil {
				t.Fatalf("Intake: %v", err)
			}
			if c.Key != tc.key || c.SignatureAlgorithm != tc.alg {
				t.Errorf("key %q alg %v; want %q %v", c.Key, c.SignatureAlgorithm, tc.key, tc.alg)
			}
			want, err := SPKIHash(c.PublicKey)
			if err != nil || want != c.SPKIHash {
				t.Errorf("SPKIHash %x, SPKIHash(pub) = %x, %v", c.SPKIHash, want, err)
			}
			spki, _ := x509.MarshalPKIXPublicKey(c.PublicKey)
			if !bytes.Equal(spki, c.SPKI) {
				t.Error("SPKI is not the canonical encoding of the key")
			}
			if c.RequestedSubject != "CN=Muhr test" && c.RequestedSubject != "" {
				t.Errorf("RequestedSubject %q", c.RequestedSubject)
			}
		})
	}
}

// wantKind runs Intake and checks the error kind and a word of the message.
func wantKind(t *testing.T, data []byte, opts Options, kind error, words ...string) {
	t.Helper()
	c, err := Intake(data, opts)
	if !errors.Is(err, kind) {
		t.Fatalf("Intake = %+v, %v; want %v", c, err, kind)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	t.Logf("refused: %v", err)
}

func TestRefusesSignatures(t *testing.T) {
	k := rsaKey(t, 2048)
	t.Run("bad signature", func(t *testing.T) {
		der := stdCSR(t, k, nil)
		der[len(der)-7] ^= 0x01 // inside the signature value
		wantKind(t, der, Options{}, ErrBadSignature, "possession")
	})
	t.Run("signed with another key", func(t *testing.T) {
		spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		other := rawFromStd(rsaKey(t, 3072))
		der := buildCSR(t, spki, algSHA256RSA, func(tbs []byte) []byte { return other.sign(crypto.SHA256, tbs) })
		wantKind(t, der, Options{}, ErrBadSignature)
	})
	t.Run("SHA-1 RSA", func(t *testing.T) {
		wantKind(t, rsaCSR(t, rawFromStd(k), crypto.SHA1, algSHA1RSA), Options{}, ErrWeakSignatureAlgorithm, "SHA1-RSA", "SHA-256")
	})
	t.Run("MD5 RSA", func(t *testing.T) {
		wantKind(t, rsaCSR(t, rawFromStd(k), crypto.MD5, algMD5RSA), Options{}, ErrWeakSignatureAlgorithm, "MD5-RSA")
	})
	t.Run("SHA-1 ECDSA", func(t *testing.T) {
		spki, _ := x509.MarshalPKIXPublicKey(&p256Key().PublicKey)
		alg := tlv(0x30, mustMarshal(t, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}))
		wantKind(t, buildCSR(t, spki, alg, ecSigner(p256Key(), crypto.SHA1)), Options{}, ErrWeakSignatureAlgorithm, "ECDSA-SHA1")
	})
	t.Run("SHA-256 RSA algorithm on an EC key", func(t *testing.T) {
		spki, _ := x509.MarshalPKIXPublicKey(&p256Key().PublicKey)
		wantKind(t, buildCSR(t, spki, algSHA256RSA, ecSigner(p256Key(), crypto.SHA256)), Options{}, ErrBadSignature)
	})
	t.Run("correct signature, valid algorithm is required", func(t *testing.T) {
		// The control case for the hand-built CSRs above: same builder,
		// SHA-256, accepted.
		if _, err := Intake(rsaCSR(t, rawFromStd(k), crypto.SHA256, algSHA256RSA), Options{}); err != nil {
			t.Fatal(err)
		}
		spki, _ := x509.MarshalPKIXPublicKey(&p256Key().PublicKey)
		if _, err := Intake(buildCSR(t, spki, algSHA256EC, ecSigner(p256Key(), crypto.SHA256)), Options{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRefusesKeys(t *testing.T) {
	sha256CSR := func(k *rawRSA) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return rsaCSR(t, k, crypto.SHA256, algSHA256RSA) }
	}
	lazy := func(gen func(testing.TB) *rawRSA) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return sha256CSR(gen(t))(t) }
	}
	cases := []struct {
		name  string
		csr   func(t *testing.T) []byte
		kind  error
		words []string
	}{
		{"RSA-1024", func(t *testing.T) []byte { return stdCSR(t, rsaKey(t, 1024), nil) }, ErrWeakKey, []string{"1024 bits", "2048"}},
		{"RSA exponent 3", lazy(rsaExponent3), ErrWeakKey, []string{"exponent is 3", "65537"}},
		{"RSA 2047 bits", lazy(func(t testing.TB) *rawRSA { return rsaBits(t, 2047) }), ErrWeakKey, []string{"2047 bits", "2048"}},
		{"RSA 3071 bits", lazy(func(t testing.TB) *rawRSA { return rsaBits(t, 3071) }), ErrKeyType, []string{"3071 bits", "multiple of 8"}},
		{"RSA 4104 bits", func(t *testing.T) []byte {
			// The size is refused before the signature is looked at, so a
			// random modulus and a fake signature suffice.
			n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 4104))
			n.SetBit(n, 4103, 1).SetBit(n, 0, 1)
			return sha256CSR(&rawRSA{N: n, D: big.NewInt(1), E: 65537})(t)
		}, ErrKeyType, []string{"4104 bits", "4096"}},
		{"RSA small factor", lazy(rsaSmallFactor), ErrWeakKey, []string{"divisible by 7919"}},
		{"RSA Fermat-close primes", lazy(rsaFermat), ErrWeakKey, []string{"Fermat"}},
		{"RSA ROCA fingerprint", lazy(rsaROCA), ErrWeakKey, []string{"ROCA"}},
		{"P-224", func(t *testing.T) []byte { return stdCSR(t, mustEC(elliptic.P224()), nil) }, ErrKeyType, []string{"P-224", "P-256 or P-384"}},
		{"P-521", func(t *testing.T) []byte { return stdCSR(t, mustEC(elliptic.P521()), nil) }, ErrKeyType, []string{"P-521", "P-256 or P-384"}},
		{"Ed25519", func(t *testing.T) []byte {
			_, k, _ := ed25519.GenerateKey(rand.Reader)
			return stdCSR(t, k, nil)
		}, ErrKeyType, []string{"Ed25519", "P-256 or P-384"}},
		{"Ed25519 key, ECDSA signature algorithm", func(t *testing.T) []byte {
			pub, _, _ := ed25519.GenerateKey(rand.Reader)
			spki, _ := x509.MarshalPKIXPublicKey(pub)
			return buildCSR(t, spki, algSHA256EC, ecSigner(p256Key(), crypto.SHA256))
		}, ErrKeyType, []string{"Ed25519", "P-256 or P-384"}},
		{"EC point off the curve", func(t *testing.T) []byte {
			return buildCSR(t, ecSPKI(t, offCurve(t)), algSHA256EC, ecSigner(p256Key(), crypto.SHA256))
		}, ErrInvalidKey, []string{"not on curve P-256"}},
		{"EC compressed point", func(t *testing.T) []byte {
			pub := p256Key().PublicKey
			//lint:ignore SA1019 test builds a compressed point on purpose
			return buildCSR(t, ecSPKI(t, elliptic.MarshalCompressed(pub.Curve, pub.X, pub.Y)), algSHA256EC, ecSigner(p256Key(), crypto.SHA256))
		}, ErrInvalidKey, []string{"compressed"}},
		{"EC explicit curve parameters", func(t *testing.T) []byte {
			alg := tlv(0x30, mustMarshal(t, oidPublicKeyEC), tlv(0x30, []byte{0x02, 0x01, 0x01}))
			spki := tlv(0x30, alg, tlv(0x03, []byte{0, 4}, make([]byte, 64)))
			return buildCSR(t, spki, algSHA256EC, ecSigner(p256Key(), crypto.SHA256))
		}, ErrKeyType, []string{"named curve"}},
		{"unknown key algorithm", func(t *testing.T) []byte {
			alg := tlv(0x30, mustMarshal(t, asn1.ObjectIdentifier{1, 3, 101, 113})) // Ed448
			spki := tlv(0x30, alg, tlv(0x03, []byte{0}, make([]byte, 57)))
			return buildCSR(t, spki, algSHA256EC, ecSigner(p256Key(), crypto.SHA256))
		}, ErrKeyType, []string{"unknown public key algorithm"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantKind(t, tc.csr(t), Options{}, tc.kind, tc.words...) })
	}
}

// offCurve returns an uncompressed P-256 point encoding that is not on the
// curve: a valid public point with y changed.
func offCurve(t *testing.T) []byte {
	pub, err := p256Key().PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	p := bytes.Clone(pub.Bytes())
	p[len(p)-1] ^= 1
	return p
}

func ecSPKI(t *testing.T, point []byte) []byte {
	alg := tlv(0x30, mustMarshal(t, oidPublicKeyEC), mustMarshal(t, oidCurveP256))
	return tlv(0x30, alg, tlv(0x03, []byte{0}, point))
}

func TestRefusesCAKey(t *testing.T) {
	k := p256Key()
	h, err := SPKIHash(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{ForbiddenKeys: map[[32]byte]string{h: "Muhr Issuing CA 1"}}
	wantKind(t, stdCSR(t, k, nil), opts, ErrKeyIsCAKey, "Muhr Issuing CA 1")
	// Another key passes the same options.
	if _, err := Intake(stdCSR(t, p384Key(), nil), opts); err != nil {
		t.Fatal(err)
	}
}

func TestIgnoredRequests(t *testing.T) {
	bc := mustMarshal(t, struct {
		CA bool
	}{true})
	eku := mustMarshal(t, []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 1}, {1, 3, 6, 1, 5, 5, 7, 3, 3}})
	tmpl := &x509.CertificateRequest{
		Subject:        pkix.Name{CommonName: "Muhr test", Organization: []string{"Evil"}},
		DNSNames:       []string{"www.example.tj", "*.gov.tj"},
		EmailAddresses: []string{"root@example.tj"},
		ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bc},
			{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: eku},
		},
	}
	c, err := Intake(stdCSR(t, p256Key(), tmpl), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []asn1.ObjectIdentifier{{2, 5, 29, 17}, {2, 5, 29, 19}, {2, 5, 29, 37}} {
		if !slices.ContainsFunc(c.IgnoredExtensions, want.Equal) {
			t.Errorf("IgnoredExtensions %v lacks %v", c.IgnoredExtensions, want)
		}
	}
	if !strings.Contains(c.RequestedSubject, "O=Evil") {
		t.Errorf("RequestedSubject %q", c.RequestedSubject)
	}

	// A challengePassword attribute next to the extension request.
	challenge := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 7}
	attr := tlv(0x30, mustMarshal(t, challenge), tlv(0x31, mustMarshal(t, "secret")))
	spki, _ := x509.MarshalPKIXPublicKey(&p256Key().PublicKey)
	c, err = Intake(buildCSR(t, spki, algSHA256EC, ecSigner(p256Key(), crypto.SHA256), attr), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.IgnoredAttributes) != 1 || !c.IgnoredAttributes[0].Equal(challenge) {
		t.Errorf("IgnoredAttributes %v", c.IgnoredAttributes)
	}
}

func TestCheckCrossChecksParsedFields(t *testing.T) {
	req, err := Parse(stdCSR(t, p256Key(), nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Check(req, Options{}); err != nil {
		t.Fatal(err)
	}
	swapped := *req
	swapped.PublicKey = &p384Key().PublicKey
	if _, err := Check(&swapped, Options{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("key swapped after parsing: %v; want ErrMalformed", err)
	}
	if _, err := Check(&x509.CertificateRequest{}, Options{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty request: %v", err)
	}
	if _, err := Check(nil, Options{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("nil request: %v", err)
	}
}

func TestGoodKeysHaveNoWeakness(t *testing.T) {
	for _, bits := range []int{2048, 3072, 4096} {
		if err := checkRSAMath(rsaKey(t, bits).N, DefaultFermatRounds); err != nil {
			t.Errorf("RSA-%d from crypto/rand: %v", bits, err)
		}
	}
}

func TestFermatFactor(t *testing.T) {
	p := prime(t, 1024)
	// n = p² is caught because the search starts at ⌈√n⌉.
	if _, _, ok := fermatFactor(new(big.Int).Mul(p, p), 1); !ok {
		t.Error("p² not factored")
	}
	k := rsaFermat(t)
	f1, f2, ok := fermatFactor(k.N, DefaultFermatRounds)
	if !ok || new(big.Int).Mul(f1, f2).Cmp(k.N) != 0 || f2.Cmp(big.NewInt(1)) <= 0 {
		t.Errorf("close primes not factored: %v %v %v", f1, f2, ok)
	}
	if _, _, ok := fermatFactor(rsaKey(t, 2048).N, DefaultFermatRounds); ok {
		t.Error("random key factored")
	}
}

func TestROCATable(t *testing.T) {
	tab := rocaTable()
	if len(tab) != 38 || tab[0].prime != 3 || tab[37].prime != 167 {
		t.Fatalf("ROCA primes: %d entries", len(tab))
	}
	// 65537 ≡ 2 (mod 5) generates all of Z_5*; 65537 ≡ 10 ≡ -1 (mod 11)
	// generates {1, 10}: a ROCA modulus is ±1 mod 11.
	if !tab[1].subgroup[1] || !tab[1].subgroup[2] || !tab[1].subgroup[3] || !tab[1].subgroup[4] {
		t.Error("subgroup mod 5")
	}
	var mod11 []int
	for x, in := range tab[3].subgroup {
		if in {
			mod11 = append(mod11, x)
		}
	}
	if tab[3].prime != 11 || !slices.Equal(mod11, []int{1, 10}) {
		t.Errorf("subgroup mod %d = %v; want mod 11 = [1 10]", tab[3].prime, mod11)
	}
	if !hasROCAFingerprint(rsaROCA(t).N) {
		t.Error("generated ROCA key not detected")
	}
	for _, bits := range []int{2048, 3072} {
		if hasROCAFingerprint(rsaKey(t, bits).N) {
			t.Errorf("RSA-%d from crypto/rand has the ROCA fingerprint", bits)
		}
	}
}

func TestSmallFactor(t *testing.T) {
	if f := smallFactor(big.NewInt(9973 * 9967)); f != 9967 {
		t.Errorf("smallFactor = %d", f)
	}
	if f := smallFactor(rsaKey(t, 2048).N); f != 0 {
		t.Errorf("random key has factor %d", f)
	}
	if n := len(smallPrimes()); n != 1229 {
		t.Errorf("%d primes below 10000; want 1229", n)
	}
}
