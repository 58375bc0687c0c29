package ocsp_test

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/muhr-pki/muhr/ocsp"
)

// FuzzParseRequest: any bytes either parse into a request within the
// limits or fail with ErrMalformed; never a panic.
func FuzzParseRequest(f *testing.F) {
	is := testIssuer(f)
	one := certIDs(is, crypto.SHA1, big.NewInt(42))
	if b, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: big.NewInt(42)}, is, nil); err == nil {
		f.Add(b)
	}
	f.Add(marshal(f, tReq{tTBS{List: certIDs(is, crypto.SHA256, serials(3)...)}}))
	f.Add(marshal(f, tReq{tTBS{List: one, Exts: []pkix.Extension{nonceExt(make([]byte, 16))}}}))
	f.Add(marshal(f, tReq{tTBS{Version: 1, List: one}}))
	f.Add([]byte{0x30, 0x03, 0x0a, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ocsp.ParseRequest(b)
		if err != nil {
			if !errors.Is(err, ocsp.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if n := len(r.CertIDs); n < 1 || n > ocsp.MaxCertIDs {
			t.Fatalf("%d CertIDs", n)
		}
		if r.Nonce != nil && (len(r.Nonce) < 1 || len(r.Nonce) > ocsp.MaxNonce) {
			t.Fatalf("nonce of %d", len(r.Nonce))
		}
		for _, id := range r.CertIDs {
			if len(id.KeyHash) != id.Hash.Size() || len(id.NameHash) != id.Hash.Size() || id.Serial.Sign() < 0 {
				t.Fatalf("CertID %+v", id)
			}
		}
	})
}
