package csr

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"
)

var errorKinds = []error{ErrMalformed, ErrBadSignature, ErrWeakSignatureAlgorithm, ErrKeyType, ErrWeakKey, ErrInvalidKey, ErrKeyIsCAKey}

// FuzzIntake: no input panics; every refusal carries one of the kinds; an
// accepted input has a signature that verifies and a key the policy allows.
func FuzzIntake(f *testing.F) {
	rsa2048 := rsaKey(f, 2048)
	p256, _, _ := goodP256(f)
	seeds := [][]byte{
		p256,
		toPEM(p256),
		stdCSR(f, rsa2048, nil),
		toPEM(stdCSR(f, p384Key(), &x509.CertificateRequest{SignatureAlgorithm: x509.ECDSAWithSHA384})),
		stdCSR(f, rsa2048, &x509.CertificateRequest{SignatureAlgorithm: x509.SHA256WithRSAPSS, DNSNames: []string{"a.tj"}}),
		rsaCSR(f, rawFromStd(rsa2048), crypto.SHA1, algSHA1RSA),
		stdCSR(f, mustEC(elliptic.P521()), nil),
		p256[:len(p256)-3],
		append([]byte{0x30, 0x80}, append(p256[3:], 0, 0)...),
		[]byte("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"),
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Intake(data, Options{})
		if err != nil {
			if !isKind(err, errorKinds) {
				t.Fatalf("refusal without a kind: %v", err)
			}
			return
		}
		req, err := Parse(data)
		if err != nil {
			t.Fatalf("Intake accepted what Parse refuses: %v", err)
		}
		if err := req.CheckSignature(); err != nil {
			t.Fatalf("accepted with a bad signature: %v", err)
		}
		switch k := c.PublicKey.(type) {
		case *rsa.PublicKey:
			if b := k.N.BitLen(); b < 2048 || b > 4096 || b%8 != 0 || k.E != 65537 {
				t.Fatalf("accepted RSA-%d e=%d", b, k.E)
			}
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
				t.Fatalf("accepted curve %s", k.Curve.Params().Name)
			}
		default:
			t.Fatalf("accepted %T", k)
		}
		if h, err := SPKIHash(req.PublicKey); err != nil || h != c.SPKIHash {
			t.Fatalf("SPKIHash mismatch: %v", err)
		}
	})
}

func isKind(err error, kinds []error) bool {
	for _, k := range kinds {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}
