package ocsp_test

import (
	"context"
	"crypto"
	"crypto/x509/pkix"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/muhr-pki/muhr/ocsp"
)

// failingKeys hands out the token's signers, which fail while broken is
// set, as a key that stopped signing does.
type failingKeys struct {
	ocsp.KeyStore
	broken *atomic.Bool
}

func (k failingKeys) Signer(ctx context.Context, label string) (crypto.Signer, error) {
	s, err := k.KeyStore.Signer(ctx, label)
	if err != nil {
		return nil, err
	}
	return failingSigner{s, k.broken}, nil
}

type failingSigner struct {
	crypto.Signer
	broken *atomic.Bool
}

func (s failingSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	if s.broken.Load() {
		return nil, errors.New("CKR_DEVICE_ERROR")
	}
	return s.Signer.Sign(r, d, o)
}

// When the signer key fails, an answer that must be signed now (nothing
// cached, or a nonce) is internalError: never a good, never unsigned.
func TestResponderSignerFailureIsInternalError(t *testing.T) {
	var broken atomic.Bool
	e := newEnvWith(t, func(o *ocsp.Options) { o.Keys = failingKeys{o.Keys, &broken} })
	leaf, _ := e.leaf(t, true)
	plain, err := xocsp.CreateRequest(leaf, e.p.Issuing, nil)
	if err != nil {
		t.Fatal(err)
	}
	one := certIDs(e.p.Issuing, crypto.SHA1, leaf.SerialNumber)
	withNonce := marshal(t, tReq{tTBS{List: one, Exts: []pkix.Extension{nonceExt([]byte{1, 2, 3, 4})}}})
	broken.Store(true)
	for name, body := range map[string][]byte{"uncached": plain, "nonce": withNonce} {
		resp, b := post(t, e.url, "application/ocsp-request", body)
		if resp.StatusCode != 200 || errorStatus(b) != int(ocsp.InternalError) {
			t.Errorf("%s: %s %x, want internalError", name, resp.Status, b)
		}
	}
	broken.Store(false)
	_, b := post(t, e.url, "application/ocsp-request", plain)
	if r, err := xocsp.ParseResponseForCert(b, leaf, e.p.Issuing); err != nil || r.Status != xocsp.Good {
		t.Fatalf("key back: %v %+v", err, r)
	}
}
