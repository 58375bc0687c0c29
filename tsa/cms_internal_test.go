package tsa

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/internal/cms"
)

func TestDERIntegerMatchesEncodingASN1(t *testing.T) {
	big160 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 160), big.NewInt(1))
	for _, n := range []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(127), big.NewInt(128), big.NewInt(255),
		big.NewInt(256), big.NewInt(-1), big.NewInt(-129), big160} {
		want, err := asn1.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		if got := derInteger(n); !bytes.Equal(got, want) {
			t.Errorf("%s: %x, want %x", n, got, want)
		}
	}
}

func TestGeneralizedTimeFraction(t *testing.T) {
	base := time.Date(2026, 12, 1, 22, 36, 28, 0, time.UTC)
	for ns, want := range map[int]string{
		0: "20261201223628Z", 100_000_000: "20261201223628.1Z", 144_113_000: "20261201223628.144113Z",
		1_000: "20261201223628.000001Z", 999_999_999: "20261201223628.999999999Z",
	} {
		if got := generalizedTime(base.Add(time.Duration(ns))); got != want {
			t.Errorf("%d ns: %s, want %s", ns, got, want)
		}
	}
	// Any zone is written in UTC.
	if got := generalizedTime(base.In(time.FixedZone("TJT", 5*3600))); got != "20261201223628Z" {
		t.Errorf("zoned: %s", got)
	}
}

// fixedSigner returns sig for any digest and remembers the last digest.
type fixedSigner struct {
	pub    crypto.PublicKey
	sig    []byte
	digest []byte
}

func (f *fixedSigner) Public() crypto.PublicKey { return f.pub }
func (f *fixedSigner) Sign(_ io.Reader, d []byte, _ crypto.SignerOpts) ([]byte, error) {
	f.digest = slices.Clone(d)
	return f.sig, nil
}

// referenceToken is the token encoded the plain way, nesting one encoded
// value into the next: what sign's one-buffer encoding must equal byte for
// byte.
func referenceToken(t *testing.T, u *Unit, tm *signerTemplate, req *Request, policy []byte, serial *big.Int,
	genTime time.Time, sig []byte, wantDigest []byte) (response, ledger []byte) {
	t.Helper()
	info := slices.Concat(derV1, policy, req.ImprintDER, cms.MustMarshal(serial), cms.TLV(0x18, []byte(generalizedTime(genTime))),
		tm.accuracy)
	if req.Nonce != nil {
		info = append(info, cms.MustMarshal(req.Nonce)...)
	}
	info = cms.Seq(info)
	d := u.Digest.New()
	d.Write(info)
	h := sha256.Sum256(u.Cert.Raw)
	serialDER := cms.MustMarshal(u.Cert.SerialNumber)
	signingCert := cms.Seq(cms.Seq(cms.Seq(cms.MustMarshal(h[:]),
		cms.Seq(cms.Seq(cms.TLV(0xa4, u.Cert.RawIssuer)), serialDER))))
	attrs := [][]byte{
		cms.Attribute(cms.OIDAttrContentType, cms.MustMarshal(cms.OIDTSTInfo)),
		cms.Attribute(cms.OIDAttrSigningCertV2, signingCert),
		cms.Seq(cms.MustMarshal(cms.OIDAttrMessageDigest), cms.TLV(0x31, cms.TLV(0x04, d.Sum(nil)))),
	}
	slices.SortFunc(attrs, bytes.Compare)
	signedAttrs := cms.TLV(0x31, slices.Concat(attrs...))
	d = u.Digest.New()
	d.Write(signedAttrs)
	if got := d.Sum(nil); !bytes.Equal(got, wantDigest) {
		t.Fatalf("signer was asked to sign %x, want %x", wantDigest, got)
	}
	signedAttrs[0] = 0xa0
	si := cms.Seq(derV1, tm.sid, tm.digestAlg, signedAttrs, tm.sigAlg, cms.TLV(0x04, sig))
	head := slices.Concat(derV3, cms.TLV(0x31, tm.digestAlg),
		cms.Seq(cms.MustMarshal(cms.OIDTSTInfo), cms.TLV(0xa0, cms.TLV(0x04, info))))
	ledger = contentInfoDER(cms.MustMarshal(cms.OIDSignedData), slices.Concat(head, cms.TLV(0x31, si)))
	released := ledger
	if req.CertReq {
		certs := slices.Clone(u.Cert.Raw)
		for _, c := range u.Chain {
			certs = append(certs, c.Raw...)
		}
		released = contentInfoDER(cms.MustMarshal(cms.OIDSignedData), slices.Concat(head, cms.TLV(0xa0, certs), cms.TLV(0x31, si)))
	}
	return cms.Seq(derGranted, released), ledger
}

// The one-buffer encoder gives exactly the plainly nested encoding, across
// DER length forms (short, 0x81, 0x82), nonces absent to 1 KiB, genTime
// with and without a fraction, certReq or not, SHA-256 and SHA-384 units.
func TestTokenEncodingMatchesReference(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		key, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x1234567), Subject: pkix.Name{CommonName: "TSA unit"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		raw, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(raw)
		if err != nil {
			t.Fatal(err)
		}
		digest, err := digestFor(&key.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		for _, sigLen := range []int{8, 72, 104, 300} {
			fs := &fixedSigner{pub: &key.PublicKey, sig: bytes.Repeat([]byte{0x5a}, sigLen)}
			u := &Unit{Signer: fs, Cert: cert, Chain: []*x509.Certificate{cert, cert}, Digest: digest}
			tm, err := newSignerTemplate(u, 1500*time.Millisecond, []asn1.ObjectIdentifier{DefaultPolicy})
			if err != nil {
				t.Fatal(err)
			}
			imprint := cms.MustMarshal(messageImprint{HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidSHA256},
				HashedMessage: make([]byte, 32)})
			for _, nonceLen := range []int{-1, 1, 8, 100, 130, 200, 260, 1024} {
				for _, certReq := range []bool{false, true} {
					for _, ns := range []int{0, 144_113_000} {
						req := &Request{ImprintDER: imprint, CertReq: certReq}
						if nonceLen > 0 {
							req.Nonce = new(big.Int).SetBytes(bytes.Repeat([]byte{0x81}, nonceLen))
						}
						gen := time.Date(2026, 12, 1, 22, 36, 28, ns, time.UTC)
						tok, err := tm.sign(req, DefaultPolicy, gen)
						if err != nil {
							t.Fatal(err)
						}
						wantResp, wantLedger := referenceToken(t, u, tm, req, cms.MustMarshal(DefaultPolicy), tok.serial, gen,
							fs.sig, fs.digest)
						name := fmt.Sprintf("%s sig=%d nonce=%d certReq=%v ns=%d", curve.Params().Name, sigLen, nonceLen, certReq, ns)
						if !bytes.Equal(tok.response, wantResp) {
							t.Fatalf("%s: response\n%x\nwant\n%x", name, tok.response, wantResp)
						}
						if !bytes.Equal(tok.ledger, wantLedger) {
							t.Fatalf("%s: ledger token differs", name)
						}
						if cap(tok.ledger) != len(tok.ledger) {
							t.Fatalf("%s: ledger token can be appended into the response", name)
						}
					}
				}
			}
		}
	}
}
