package pkcs11_test

import (
	"context"
	"crypto"
	"errors"
	"os"
	"sync"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
)

// shared is one token with a key of every algorithm, generated once:
// RSA-4096 generation on SoftHSM2 takes seconds.
var shared struct {
	once    sync.Once
	tok     testpki.SoftHSMToken
	token   *pkcs11.Token
	signers map[hsm.KeyAlgorithm]crypto.Signer
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.token != nil {
		shared.token.Close()
	}
	os.Exit(code)
}

// sharedToken returns the shared token and its signers, keyed by algorithm
// and labelled "key-<algorithm>".
func sharedToken(t *testing.T) (testpki.SoftHSMToken, *pkcs11.Token, map[hsm.KeyAlgorithm]crypto.Signer) {
	t.Helper()
	if m := testpki.SoftHSMModule(); m == "" {
		testpki.Missing(t, "SoftHSM2 library not found")
	} else if _, err := os.Stat(m); err != nil {
		testpki.Missing(t, "SoftHSM2 library: %v", err)
	}
	shared.once.Do(func() {
		shared.err = errors.New("setup stopped early")
		shared.tok = testpki.SoftHSM(t)
		ctx := context.Background()
		tok, err := pkcs11.Open(ctx, shared.tok.Config(4))
		if err != nil {
			shared.err = err
			return
		}
		shared.token = tok
		// Generate in parallel: the slow RSA keys overlap on both cores.
		var mu sync.Mutex
		var wg sync.WaitGroup
		signers := map[hsm.KeyAlgorithm]crypto.Signer{}
		var firstErr error
		for _, alg := range hsm.Algorithms {
			wg.Go(func() {
				s, err := tok.Generate(ctx, "key-"+string(alg), alg)
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				signers[alg] = s
			})
		}
		wg.Wait()
		shared.signers, shared.err = signers, firstErr
	})
	if shared.err != nil {
		t.Fatalf("shared token: %v", shared.err)
	}
	return shared.tok, shared.token, shared.signers
}

// rawSession opens a PKCS#11 session on the token beside the Token under
// test, through a separate miekg context on the same library, as another
// part of the process (or an operator's mistake) would.
func rawSession(t *testing.T, tok testpki.SoftHSMToken) (*p11.Ctx, uint, p11.SessionHandle) {
	t.Helper()
	c := p11.New(tok.Module)
	if c == nil {
		t.Fatalf("load %s", tok.Module)
	}
	if err := c.Initialize(); err != nil && !errors.Is(err, p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		t.Fatal(err)
	}
	t.Cleanup(c.Destroy) // never Finalize: the Token under test shares the library
	slots, err := c.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		ti, err := c.GetTokenInfo(s)
		if err == nil && ti.Label == tok.Label {
			sh, err := c.OpenSession(s, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.CloseSession(sh) })
			return c, s, sh
		}
	}
	t.Fatalf("token %q not in slot list", tok.Label)
	return nil, 0, 0
}

// rawLogin logs the raw session in, accepting that the process already is.
func rawLogin(t *testing.T, c *p11.Ctx, sh p11.SessionHandle, pin []byte) {
	t.Helper()
	if err := c.Login(sh, p11.CKU_USER, string(pin)); err != nil && !errors.Is(err, p11.Error(p11.CKR_USER_ALREADY_LOGGED_IN)) {
		t.Fatalf("raw login: %v", err)
	}
}
