package ocsp_test

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/muhr-pki/muhr/ocsp"
)

type tCertID struct {
	Alg      pkix.AlgorithmIdentifier
	NameHash []byte
	KeyHash  []byte
	Serial   *big.Int
}

type tSingle struct{ ID tCertID }

type tTBS struct {
	Version int `asn1:"explicit,tag:0,optional"`
	List    []tSingle
	Exts    []pkix.Extension `asn1:"explicit,tag:2,optional"`
}

type tReq struct{ TBS tTBS }

var (
	oidSHA1  = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA2  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
)

// certIDs makes the CertIDs of serials under issuer with hash h.
func certIDs(issuer *x509.Certificate, h crypto.Hash, serials ...*big.Int) []tSingle {
	var spki struct {
		Alg asn1.RawValue
		Key asn1.BitString
	}
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		panic(err)
	}
	var name, key []byte
	alg := pkix.AlgorithmIdentifier{Algorithm: oidSHA1, Parameters: asn1.NullRawValue}
	if h == crypto.SHA256 {
		n, k := sha256.Sum256(issuer.RawSubject), sha256.Sum256(spki.Key.RightAlign())
		name, key, alg.Algorithm = n[:], k[:], oidSHA2
	} else {
		n, k := sha1.Sum(issuer.RawSubject), sha1.Sum(spki.Key.RightAlign())
		name, key = n[:], k[:]
	}
	var out []tSingle
	for _, s := range serials {
		out = append(out, tSingle{tCertID{alg, name, key, s}})
	}
	return out
}

func nonceExt(n []byte) pkix.Extension {
	v, _ := asn1.Marshal(n)
	return pkix.Extension{Id: oidNonce, Value: v}
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func serials(n int) []*big.Int {
	var out []*big.Int
	for i := range n {
		out = append(out, big.NewInt(int64(5000+i)))
	}
	return out
}

// testIssuer is any certificate: the parser does not look issuers up.
func testIssuer(t testing.TB) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(fixedCert)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseRequest(t *testing.T) {
	is := testIssuer(t)
	one := certIDs(is, crypto.SHA1, big.NewInt(42))
	xreq, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: big.NewInt(42)}, is, nil)
	if err != nil {
		t.Fatal(err)
	}
	xreq256, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: big.NewInt(42)}, is, &xocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	ok := []struct {
		name  string
		der   []byte
		ids   int
		hash  crypto.Hash
		nonce int
	}{
		{"x/crypto SHA-1", xreq, 1, crypto.SHA1, 0},
		{"x/crypto SHA-256", xreq256, 1, crypto.SHA256, 0},
		{"fifty", marshal(t, tReq{tTBS{List: certIDs(is, crypto.SHA256, serials(50)...)}}), 50, crypto.SHA256, 0},
		{"nonce 1", marshal(t, tReq{tTBS{List: one, Exts: []pkix.Extension{nonceExt([]byte{7})}}}), 1, crypto.SHA1, 1},
		{"nonce 128", marshal(t, tReq{tTBS{List: one, Exts: []pkix.Extension{nonceExt(make([]byte, 128))}}}), 1, crypto.SHA1, 128},
		{"unknown extension", marshal(t, tReq{tTBS{List: one, Exts: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3}, Value: []byte{5, 0}}}}}), 1, crypto.SHA1, 0},
	}
	for _, c := range ok {
		r, err := ocsp.ParseRequest(c.der)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(r.CertIDs) != c.ids || r.CertIDs[0].Hash != c.hash || len(r.Nonce) != c.nonce {
			t.Errorf("%s: %d CertIDs, hash %v, nonce %d", c.name, len(r.CertIDs), r.CertIDs[0].Hash, len(r.Nonce))
		}
		if c.ids == 50 && r.CertIDs[49].Serial.Int64() != 5049 {
			t.Errorf("fifty: last serial %v", r.CertIDs[49].Serial)
		}
		if c.name == "x/crypto SHA-1" && (r.CertIDs[0].Serial.Int64() != 42 || !bytes.Equal(r.CertIDs[0].KeyHash, one[0].ID.KeyHash)) {
			t.Errorf("x/crypto: CertID %+v", r.CertIDs[0])
		}
	}
	md5 := certIDs(is, crypto.SHA1, big.NewInt(1))
	md5[0].ID.Alg.Algorithm = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}
	short := certIDs(is, crypto.SHA256, big.NewInt(1))
	short[0].ID.KeyHash = short[0].ID.KeyHash[:31]
	neg := certIDs(is, crypto.SHA1, big.NewInt(-1))
	rawNonce := pkix.Extension{Id: oidNonce, Value: []byte{1, 2, 3}} // not an OCTET STRING
	bad := []struct {
		name string
		der  []byte
	}{
		{"empty", nil},
		{"garbage", []byte("hello, responder")},
		{"trailing byte", append(append([]byte{}, xreq...), 0)},
		{"truncated", xreq[:len(xreq)-1]},
		{"no CertID", marshal(t, tReq{tTBS{List: []tSingle{}}})},
		{"51 CertIDs", marshal(t, tReq{tTBS{List: certIDs(is, crypto.SHA1, serials(51)...)}})},
		{"version 2", marshal(t, tReq{tTBS{Version: 1, List: one}})},
		{"MD5", marshal(t, tReq{tTBS{List: md5}})},
		{"short key hash", marshal(t, tReq{tTBS{List: short}})},
		{"negative serial", marshal(t, tReq{tTBS{List: neg}})},
		{"nonce 0", marshal(t, tReq{tTBS{List: one, Exts: []pkix.Extension{nonceExt([]byte{})}}})},
		{"nonce 129", marshal(t, tReq{tTBS{List: one, Exts: []pkix.Extension{nonceExt(make([]byte, 129))}}})},
		{"bare nonce", marshal(t, tReq{tTBS{List: one, Exts: []pkix.Extension{rawNonce}}})},
		{"two nonces", marshal(t, tReq{tTBS{List: one, Exts: []pkix.Extension{nonceExt([]byte{1}), nonceExt([]byte{2})}}})},
		{"over 64 KiB", make([]byte, ocsp.MaxRequestBytes+1)},
	}
	for _, c := range bad {
		if r, err := ocsp.ParseRequest(c.der); !errors.Is(err, ocsp.ErrMalformed) {
			t.Errorf("%s: %+v, %v; want ErrMalformed", c.name, r, err)
		}
	}
}
