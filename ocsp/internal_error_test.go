package ocsp_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509/pkix"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

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

// stuckKeys hands out the token's signers, which hang while stuck is set
// until the context they were given ends, as a token that stopped
// answering does (a network HSM behind a dead link).
type stuckKeys struct {
	ocsp.KeyStore
	stuck     *atomic.Bool
	cancelled *atomic.Int32 // signatures whose context ended while stuck
}

func (k stuckKeys) Signer(ctx context.Context, label string) (crypto.Signer, error) {
	s, err := k.KeyStore.Signer(ctx, label)
	if err != nil {
		return nil, err
	}
	return stuckSigner{s, k}, nil
}

type stuckSigner struct {
	crypto.Signer
	k stuckKeys
}

func (s stuckSigner) SignContext(ctx context.Context, r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	if s.k.stuck.Load() {
		<-ctx.Done()
		s.k.cancelled.Add(1)
		return nil, ctx.Err()
	}
	return s.Signer.Sign(r, d, o)
}

// A token that hangs holds no request past the sign timeout: answers that
// must be signed now get tryLater (our failure, for now), and the request's
// own context reaches the token too, so a client that gives up frees its
// wait even with no timeout configured.
func TestResponderStuckTokenTryLater(t *testing.T) {
	var stuck atomic.Bool
	var cancelled atomic.Int32
	e := newEnvWith(t, func(o *ocsp.Options) {
		o.Keys = stuckKeys{o.Keys, &stuck, &cancelled}
		o.SignTimeout = 300 * time.Millisecond
	})
	leaf, _ := e.leaf(t, true)
	plain, err := xocsp.CreateRequest(leaf, e.p.Issuing, nil)
	if err != nil {
		t.Fatal(err)
	}
	withNonce := marshal(t, tReq{tTBS{List: certIDs(e.p.Issuing, crypto.SHA1, leaf.SerialNumber),
		Exts: []pkix.Extension{nonceExt([]byte{1, 2, 3, 4})}}})
	stuck.Store(true)
	for name, body := range map[string][]byte{"uncached": plain, "nonce": withNonce} {
		start := time.Now()
		resp, b := post(t, e.url, "application/ocsp-request", body)
		if resp.StatusCode != 200 || errorStatus(b) != int(ocsp.TryLater) {
			t.Errorf("%s: %s %x, want tryLater", name, resp.Status, b)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: answered after %v with a 300ms sign timeout", name, d)
		}
	}
	if n := cancelled.Load(); n != 2 {
		t.Errorf("%d signatures ended by the timeout, want 2", n)
	}
	stuck.Store(false)
	_, b := post(t, e.url, "application/ocsp-request", plain)
	if r, err := xocsp.ParseResponseForCert(b, leaf, e.p.Issuing); err != nil || r.Status != xocsp.Good {
		t.Fatalf("token back: %v %+v", err, r)
	}
}

// With no sign timeout, the client hanging up is what ends the wait.
func TestResponderStuckTokenClientGone(t *testing.T) {
	var stuck atomic.Bool
	var cancelled atomic.Int32
	e := newEnvWith(t, func(o *ocsp.Options) { o.Keys = stuckKeys{o.Keys, &stuck, &cancelled} })
	leaf, _ := e.leaf(t, true)
	body := marshal(t, tReq{tTBS{List: certIDs(e.p.Issuing, crypto.SHA1, leaf.SerialNumber),
		Exts: []pkix.Extension{nonceExt([]byte{5, 6, 7, 8})}}})
	stuck.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("answered %s while the token hung", resp.Status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for cancelled.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if cancelled.Load() != 1 {
		t.Fatal("the signature still waits on the token after the client hung up")
	}
}
