package pkcs11_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
)

// Two Tokens on one token share the library and the login; closing one
// leaves the other working.
func TestTwoTokensOneModule(t *testing.T) {
	tok, a, s, _ := openWithKey(t, 2)
	ctx := context.Background()
	b, err := pkcs11.Open(ctx, tok.Config(2))
	if err != nil {
		t.Fatalf("second Token on the same token: %v", err)
	}
	defer b.Close()
	sb, err := b.Signer(ctx, "recover-me")
	if err != nil {
		t.Fatal(err)
	}
	verify(t, sb, crypto.SHA256, crypto.SHA256, "b")
	a.Close()
	verify(t, sb, crypto.SHA256, crypto.SHA256, "b after a closed")
	if err := b.Health(ctx); err != nil {
		t.Fatalf("Health of b after a closed: %v", err)
	}
	if _, err := s.Sign(rand.Reader, digest(crypto.SHA256, "a"), crypto.SHA256); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("signer of the closed Token: %v", err)
	}
}

// Close waits for signatures in flight and makes the rest fail fast.
func TestCloseWhileSigning(t *testing.T) {
	_, token, s, _ := openWithKey(t, 2)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				_, err := s.Sign(rand.Reader, digest(crypto.SHA256, "x"), crypto.SHA256)
				if err != nil {
					if !errors.Is(err, hsm.ErrUnavailable) {
						t.Errorf("sign during Close: %v", err)
					}
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	token.Close()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("signers still running 10 s after Close")
	}
}

func TestSignContextCancelled(t *testing.T) {
	_, _, s, _ := openWithKey(t, 1)
	cs, ok := s.(interface {
		SignContext(context.Context, io.Reader, []byte, crypto.SignerOpts) ([]byte, error)
	})
	if !ok {
		t.Fatalf("%T has no SignContext", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := cs.SignContext(ctx, rand.Reader, digest(crypto.SHA256, "x"), crypto.SHA256); !errors.Is(err, context.Canceled) {
		t.Fatalf("SignContext with a cancelled context: %v", err)
	}
}
