package csr

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"
)

// tlv encodes one DER element (short or minimal long form length).
func tlv(tag byte, parts ...[]byte) []byte {
	var content []byte
	for _, p := range parts {
		content = append(content, p...)
	}
	n := len(content)
	out := []byte{tag}
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, content...)
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Signature AlgorithmIdentifiers, DER.
var (
	algMD5RSA    = []byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04, 0x05, 0x00}
	algSHA1RSA   = []byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00}
	algSHA256RSA = []byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00}
	algSHA256EC  = []byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}
)

// rawRSA is an RSA key signed with by hand, so tests can use keys that
// crypto/rsa would refuse to sign with (e = 3, 2047 bits, small factors).
type rawRSA struct {
	N, D *big.Int
	E    int
}

func rsaFromPrimes(t testing.TB, p, q *big.Int, e int) *rawRSA {
	t.Helper()
	one := big.NewInt(1)
	p1 := new(big.Int).Sub(p, one)
	q1 := new(big.Int).Sub(q, one)
	g := new(big.Int).GCD(nil, nil, p1, q1)
	lambda := new(big.Int).Div(new(big.Int).Mul(p1, q1), g)
	d := new(big.Int).ModInverse(big.NewInt(int64(e)), lambda)
	if d == nil {
		return nil // e not invertible: caller retries
	}
	return &rawRSA{N: new(big.Int).Mul(p, q), D: d, E: e}
}

func (k *rawRSA) public() *rsa.PublicKey { return &rsa.PublicKey{N: k.N, E: k.E} }

// DigestInfo prefixes of EMSA-PKCS1-v1_5 (RFC 8017 §9.2 note 1).
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.MD5:    {0x30, 0x20, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05, 0x05, 0x00, 0x04, 0x10},
	crypto.SHA1:   {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14},
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
}

func (k *rawRSA) sign(h crypto.Hash, msg []byte) []byte {
	hh := h.New()
	hh.Write(msg)
	t := append(append([]byte{}, digestInfoPrefix[h]...), hh.Sum(nil)...)
	size := (k.N.BitLen() + 7) / 8
	em := make([]byte, size)
	em[1] = 1
	for i := 2; i < size-len(t)-1; i++ {
		em[i] = 0xff
	}
	copy(em[size-len(t):], t)
	s := new(big.Int).Exp(new(big.Int).SetBytes(em), k.D, k.N)
	return s.FillBytes(make([]byte, size))
}

// buildCSR assembles a CSR by hand around spki and signs it with sign.
// attrs are the encoded Attribute elements.
func buildCSR(t testing.TB, spki []byte, alg []byte, sign func(tbs []byte) []byte, attrs ...[]byte) []byte {
	t.Helper()
	subject := mustMarshal(t, pkix.Name{CommonName: "Muhr test"}.ToRDNSequence())
	return signInfo(tlv(0x30, []byte{0x02, 0x01, 0x00}, subject, spki, tlv(0xa0, attrs...)), alg, sign)
}

// signInfo wraps an encoded CertificationRequestInfo into a CSR.
func signInfo(info, alg []byte, sign func(tbs []byte) []byte) []byte {
	return tlv(0x30, info, alg, tlv(0x03, []byte{0}, sign(info)))
}

// ecSigner signs with ECDSA over the given hash.
func ecSigner(k *ecdsa.PrivateKey, h crypto.Hash) func([]byte) []byte {
	return func(tbs []byte) []byte {
		hh := h.New()
		hh.Write(tbs)
		sig, err := ecdsa.SignASN1(rand.Reader, k, hh.Sum(nil))
		if err != nil {
			panic(err)
		}
		return sig
	}
}

func rawFromStd(k *rsa.PrivateKey) *rawRSA { return &rawRSA{N: k.N, D: k.D, E: k.E} }

func rsaCSR(t testing.TB, k *rawRSA, h crypto.Hash, alg []byte) []byte {
	t.Helper()
	spki, err := x509.MarshalPKIXPublicKey(k.public())
	if err != nil {
		t.Fatal(err)
	}
	return buildCSR(t, spki, alg, func(tbs []byte) []byte { return k.sign(h, tbs) })
}

// stdCSR makes a CSR with crypto/x509.
func stdCSR(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{Subject: pkix.Name{CommonName: "Muhr test"}}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func toPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// Keys are generated once per test binary: RSA generation dominates the
// run time, 4096 bits above all.
var (
	rsaKeysMu sync.Mutex
	rsaKeys   = map[int]*rsa.PrivateKey{}
	p256Key   = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC(elliptic.P256()) })
	p384Key   = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC(elliptic.P384()) })
)

func mustEC(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func rsaKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	rsaKeysMu.Lock()
	defer rsaKeysMu.Unlock()
	if k, ok := rsaKeys[bits]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	rsaKeys[bits] = k
	return k
}

func prime(t testing.TB, bits int) *big.Int {
	t.Helper()
	p, err := rand.Prime(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// nextPrime returns the smallest prime > n.
func nextPrime(n *big.Int) *big.Int {
	p := new(big.Int).Add(n, big.NewInt(1))
	p.SetBit(p, 0, 1)
	for !p.ProbablyPrime(20) {
		p.Add(p, big.NewInt(2))
	}
	return p
}
