package pkcs11_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/muhr-pki/muhr/hsm"
)

func digest(h crypto.Hash, msg string) []byte {
	w := h.New()
	w.Write([]byte(msg))
	return w.Sum(nil)
}

// verify signs msg with s and checks the signature with Go's crypto.
func verify(t *testing.T, s crypto.Signer, h crypto.Hash, opts crypto.SignerOpts, msg string) {
	t.Helper()
	d := digest(h, msg)
	sig, err := s.Sign(rand.Reader, d, opts)
	if err != nil {
		t.Fatalf("sign %v: %v", h, err)
	}
	switch pub := s.Public().(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, d, sig) {
			t.Fatalf("ECDSA %v signature does not verify", h)
		}
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			// Verify with the salt length we asked for, not "auto".
			want := &rsa.PSSOptions{Hash: h, SaltLength: pss.SaltLength}
			if want.SaltLength == rsa.PSSSaltLengthAuto {
				want.SaltLength = h.Size()
			}
			if err := rsa.VerifyPSS(pub, h, d, sig, want); err != nil {
				t.Fatalf("RSA-PSS %v (salt %d): %v", h, pss.SaltLength, err)
			}
		} else if err := rsa.VerifyPKCS1v15(pub, h, d, sig); err != nil {
			t.Fatalf("RSA PKCS#1 v1.5 %v: %v", h, err)
		}
	default:
		t.Fatalf("public key %T", pub)
	}
}

func TestGenerateAttributesAndSign(t *testing.T) {
	tok, _, signers := sharedToken(t)
	c, _, sh := rawSession(t, tok)
	rawLogin(t, c, sh, tok.PIN)
	for _, alg := range hsm.Algorithms {
		t.Run(string(alg), func(t *testing.T) {
			s := signers[alg]
			label := "key-" + string(alg)
			// What the token itself says about the private key.
			if err := c.FindObjectsInit(sh, []*p11.Attribute{
				p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
				p11.NewAttribute(p11.CKA_LABEL, label),
			}); err != nil {
				t.Fatal(err)
			}
			hs, _, err := c.FindObjects(sh, 2)
			c.FindObjectsFinal(sh)
			if err != nil || len(hs) != 1 {
				t.Fatalf("find %s: %v, %d objects", label, err, len(hs))
			}
			want := map[uint]bool{
				p11.CKA_TOKEN: true, p11.CKA_PRIVATE: true, p11.CKA_SIGN: true,
				p11.CKA_SENSITIVE: true, p11.CKA_EXTRACTABLE: false,
				p11.CKA_ALWAYS_SENSITIVE: true, p11.CKA_NEVER_EXTRACTABLE: true,
				p11.CKA_DECRYPT: false, p11.CKA_UNWRAP: false, p11.CKA_DERIVE: false,
				p11.CKA_MODIFIABLE: false,
			}
			for typ, w := range want {
				a, err := c.GetAttributeValue(sh, hs[0], []*p11.Attribute{p11.NewAttribute(typ, nil)})
				if err != nil {
					t.Fatalf("attribute %#x: %v", typ, err)
				}
				if got := len(a[0].Value) == 1 && a[0].Value[0] != 0; got != w {
					t.Errorf("attribute %#x = %v, want %v", typ, got, w)
				}
			}
			// CKA_VALUE / CKA_PRIVATE_EXPONENT must not come out.
			secret := uint(p11.CKA_VALUE)
			if strings.HasPrefix(string(alg), "rsa") {
				secret = p11.CKA_PRIVATE_EXPONENT
			}
			if _, err := c.GetAttributeValue(sh, hs[0], []*p11.Attribute{p11.NewAttribute(secret, nil)}); !errors.Is(err, p11.Error(p11.CKR_ATTRIBUTE_SENSITIVE)) {
				t.Errorf("reading the private value: %v, want CKR_ATTRIBUTE_SENSITIVE", err)
			}

			switch pub := s.Public().(type) {
			case *ecdsa.PublicKey:
				wantCurve := map[hsm.KeyAlgorithm]elliptic.Curve{hsm.ECDSAP256: elliptic.P256(), hsm.ECDSAP384: elliptic.P384()}[alg]
				if pub.Curve != wantCurve {
					t.Fatalf("curve %v", pub.Curve.Params().Name)
				}
				verify(t, s, crypto.SHA256, crypto.SHA256, "ecdsa")
				verify(t, s, crypto.SHA384, crypto.SHA384, "ecdsa")
			case *rsa.PublicKey:
				if got := "rsa-" + big.NewInt(int64(pub.N.BitLen())).String(); got != string(alg) {
					t.Fatalf("modulus %d bits", pub.N.BitLen())
				}
				for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
					verify(t, s, h, h, "pkcs1")
					verify(t, s, h, &rsa.PSSOptions{Hash: h, SaltLength: rsa.PSSSaltLengthEqualsHash}, "pss")
				}
				verify(t, s, crypto.SHA256, &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthAuto}, "pss-auto")
				verify(t, s, crypto.SHA256, &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: 20}, "pss-20")
				if _, err := s.Sign(nil, digest(crypto.SHA1, "x"), crypto.SHA1); err == nil {
					t.Error("SHA-1 PKCS#1 v1.5 signature made")
				}
			default:
				t.Fatalf("public key %T", pub)
			}
			if _, err := s.Sign(nil, []byte("short"), crypto.SHA256); err == nil {
				t.Error("digest of the wrong length signed")
			}
		})
	}
}

// A certificate signed through the token verifies with crypto/x509: the
// ECDSA r‖s to DER conversion and RSA-PSS parameters are what X.509 expects.
func TestSignCertificate(t *testing.T) {
	_, _, signers := sharedToken(t)
	for _, c := range []struct {
		alg hsm.KeyAlgorithm
		sig x509.SignatureAlgorithm
	}{{hsm.ECDSAP256, x509.ECDSAWithSHA256}, {hsm.ECDSAP384, x509.ECDSAWithSHA384}, {hsm.RSA2048, x509.SHA256WithRSAPSS}, {hsm.RSA3072, x509.SHA384WithRSA}} {
		s := signers[c.alg]
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "Muhr test " + string(c.alg)},
			NotBefore:             time.Now().Add(-time.Minute),
			NotAfter:              time.Now().Add(time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign,
			SignatureAlgorithm:    c.sig,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Public(), s)
		if err != nil {
			t.Fatalf("%s: %v", c.alg, err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if err := cert.CheckSignatureFrom(cert); err != nil {
			t.Fatalf("%s: %v", c.alg, err)
		}
	}
}

func TestKeysAndLookup(t *testing.T) {
	_, tok, signers := sharedToken(t)
	ctx := context.Background()
	keys, err := tok.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]hsm.KeyInfo{}
	for _, k := range keys {
		seen[k.Label] = k
	}
	for _, alg := range hsm.Algorithms {
		label := "key-" + string(alg)
		k, ok := seen[label]
		if !ok {
			t.Fatalf("Keys() lacks %s: %v", label, keys)
		}
		if k.Algorithm != alg || !k.Sensitive || k.Extractable || !k.AlwaysSensitive || !k.NeverExtractable || len(k.ID) == 0 {
			t.Errorf("%s: %+v", label, k)
		}
		pub, ok := k.Public.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(signers[alg].Public()) {
			t.Errorf("%s: listed public key differs from the signer's", label)
		}
		// Signer finds the same key again by label.
		s, err := tok.Signer(ctx, label)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(signers[alg].Public()) {
			t.Errorf("Signer(%s) found another key", label)
		}
	}
	verify(t, mustSigner(t, tok, "key-ecdsa-p256"), crypto.SHA256, crypto.SHA256, "found again")

	if _, err := tok.Signer(ctx, "no-such-key"); !errors.Is(err, hsm.ErrKeyNotFound) || !strings.Contains(err.Error(), "no-such-key") {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := tok.Generate(ctx, "key-ecdsa-p256", hsm.ECDSAP256); !errors.Is(err, hsm.ErrKeyExists) {
		t.Fatalf("duplicate label: %v", err)
	}
	if _, err := tok.Generate(ctx, "dsa", hsm.KeyAlgorithm("dsa-1024")); err == nil {
		t.Fatal("unknown algorithm generated")
	}
	after, err := tok.Keys(ctx)
	if err != nil || len(after) != len(keys) {
		t.Fatalf("refused generations left keys behind: %d before, %d after (%v)", len(keys), len(after), err)
	}
}

func mustSigner(t *testing.T, tok interface {
	Signer(context.Context, string) (crypto.Signer, error)
}, label string) crypto.Signer {
	t.Helper()
	s, err := tok.Signer(context.Background(), label)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A key someone else put on the token as extractable is listed as such and
// refused for signing.
func TestExtractableKeyRefused(t *testing.T) {
	tok, token, _ := sharedToken(t)
	c, _, sh := rawSession(t, tok)
	rawLogin(t, c, sh, tok.PIN)
	oid := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07} // P-256
	id := []byte("extractable-id")
	pub, priv, err := c.GenerateKeyPair(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_EC_KEY_PAIR_GEN, nil)},
		[]*p11.Attribute{
			p11.NewAttribute(p11.CKA_TOKEN, true), p11.NewAttribute(p11.CKA_VERIFY, true),
			p11.NewAttribute(p11.CKA_EC_PARAMS, oid), p11.NewAttribute(p11.CKA_LABEL, "leaky"), p11.NewAttribute(p11.CKA_ID, id),
		},
		[]*p11.Attribute{
			p11.NewAttribute(p11.CKA_TOKEN, true), p11.NewAttribute(p11.CKA_PRIVATE, true), p11.NewAttribute(p11.CKA_SIGN, true),
			p11.NewAttribute(p11.CKA_SENSITIVE, false), p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
			p11.NewAttribute(p11.CKA_LABEL, "leaky"), p11.NewAttribute(p11.CKA_ID, id),
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.DestroyObject(sh, priv); c.DestroyObject(sh, pub) })

	ctx := context.Background()
	if _, err := token.Signer(ctx, "leaky"); !errors.Is(err, hsm.ErrKeyExtractable) || !strings.Contains(err.Error(), "CKA_EXTRACTABLE=true") {
		t.Fatalf("Signer(extractable key) = %v, want ErrKeyExtractable", err)
	}
	keys, err := token.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Label == "leaky" {
			if !k.Extractable || k.Sensitive || k.NeverExtractable || k.Algorithm != hsm.ECDSAP256 {
				t.Fatalf("leaky key listed as %+v", k)
			}
			return
		}
	}
	t.Fatal("Keys() does not list the extractable key")
}

func TestConcurrentSigning(t *testing.T) {
	_, _, signers := sharedToken(t)
	ec, rs := signers[hsm.ECDSAP256], signers[hsm.RSA2048]
	const workers, each = 32, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				s, opts := ec, crypto.SignerOpts(crypto.SHA256)
				if (w+i)%3 == 0 {
					s = rs
				}
				if (w+i)%6 == 0 {
					opts = &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}
				}
				d := digest(crypto.SHA256, string(rune('a'+w))+string(rune('a'+i)))
				sig, err := s.Sign(rand.Reader, d, opts)
				if err != nil {
					errs <- err
					continue
				}
				var ok bool
				switch pub := s.Public().(type) {
				case *ecdsa.PublicKey:
					ok = ecdsa.VerifyASN1(pub, d, sig)
				case *rsa.PublicKey:
					if pss, isPSS := opts.(*rsa.PSSOptions); isPSS {
						ok = rsa.VerifyPSS(pub, crypto.SHA256, d, sig, pss) == nil
					} else {
						ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, d, sig) == nil
					}
				}
				if !ok {
					errs <- errors.New("signature does not verify")
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestInitTokenRefusesTakenLabel(t *testing.T) {
	tok, _, _ := sharedToken(t)
	err := initToken(tok.Module, tok.Label)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("InitToken over an existing token: %v", err)
	}
	if bytes.Contains([]byte(err.Error()), tok.SOPIN) {
		t.Fatal("error shows the SO PIN")
	}
}
