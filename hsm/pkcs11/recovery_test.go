package pkcs11_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"github.com/muhr-pki/muhr/internal/testlog"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = testlog.Buffer

// openWithKey opens a fresh token with a P-256 key and warms n sessions.
func openWithKey(t *testing.T, n int) (testpki.SoftHSMToken, *pkcs11.Token, crypto.Signer, *syncBuffer) {
	t.Helper()
	tok := testpki.SoftHSM(t)
	logs := &syncBuffer{}
	cfg := tok.Config(n)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	token, err := pkcs11.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { token.Close() })
	s, err := token.Generate(context.Background(), "recover-me", hsm.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { verify(t, s, crypto.SHA256, crypto.SHA256, "warm") })
	}
	wg.Wait()
	return tok, token, s, logs
}

func TestRecoveryAfterSessionsClosed(t *testing.T) {
	tok, token, s, logs := openWithKey(t, 4)
	ctx := context.Background()
	c, slot, _ := rawSession(t, tok)

	// Every session of the process on this token, ours included, is closed
	// and the login with them. The next signature must still work.
	if err := c.CloseAllSessions(slot); err != nil {
		t.Fatal(err)
	}
	verify(t, s, crypto.SHA256, crypto.SHA256, "after close")
	if err := token.Health(ctx); err != nil {
		t.Fatalf("Health after recovery: %v", err)
	}
	if l := logs.String(); !strings.Contains(l, "sessions or login lost") || !strings.Contains(l, "available again") {
		t.Fatalf("recovery not logged:\n%s", l)
	}

	// Health notices the loss by itself and re-logs in; either it says so
	// or it has already recovered, and signing works afterwards.
	if err := c.CloseAllSessions(slot); err != nil {
		t.Fatal(err)
	}
	if err := token.Health(ctx); err != nil && !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Health right after the sessions were closed: %v", err)
	}
	verify(t, s, crypto.SHA256, crypto.SHA256, "after health")
	if err := token.Health(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, err := token.Keys(ctx); err != nil || len(keys) != 1 {
		t.Fatalf("Keys after recovery: %v, %v", keys, err)
	}
}

// After a C_Logout by someone else in the process, signing logs in again
// instead of reporting the (now invisible) key as missing.
func TestRecoveryAfterLogout(t *testing.T) {
	tok, token, s, _ := openWithKey(t, 2)
	c, _, sh := rawSession(t, tok)
	if err := c.Logout(sh); err != nil {
		t.Fatal(err)
	}
	verify(t, s, crypto.SHA256, crypto.SHA256, "after logout")
	if _, err := token.Signer(context.Background(), "recover-me"); err != nil {
		t.Fatalf("Signer after logout: %v", err)
	}
	if err := token.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// While the token refuses the PIN (here: changed behind our back), the pool
// reports unhealthy and does not hammer the token with the PIN; once the PIN
// works again, it becomes healthy by itself.
func TestUnhealthyUntilReloginWorks(t *testing.T) {
	tok, token, s, _ := openWithKey(t, 2)
	const interval = time.Second
	pkcs11.SetRetryInterval(token, interval)
	ctx := context.Background()
	c, slot, sh := rawSession(t, tok)
	rawLogin(t, c, sh, tok.PIN)
	other := "changed-pin-81f3"
	if err := c.SetPIN(sh, string(tok.PIN), other); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseAllSessions(slot); err != nil {
		t.Fatal(err)
	}

	err := token.Health(ctx)
	failedAt := time.Now()
	if !errors.Is(err, hsm.ErrUnavailable) || !errors.Is(err, hsm.ErrPINIncorrect) {
		t.Fatalf("Health with a refused PIN: %v", err)
	}
	if strings.Contains(err.Error(), string(tok.PIN)) || strings.Contains(err.Error(), other) {
		t.Fatalf("error shows a PIN: %v", err)
	}
	d := digest(crypto.SHA256, "while down")
	if _, err := s.Sign(rand.Reader, d, crypto.SHA256); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Sign while unavailable: %v", err)
	}

	// Put the PIN back (and log out again by closing every session).
	sh2, err := c.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	rawLogin(t, c, sh2, []byte(other))
	if err := c.SetPIN(sh2, other, string(tok.PIN)); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseAllSessions(slot); err != nil {
		t.Fatal(err)
	}
	// Within the retry interval the stored failure stands: no new attempt.
	if err := token.Health(ctx); time.Since(failedAt) < interval && !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Health retried at once: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for token.Health(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("still unhealthy: %v", token.Health(ctx))
		}
		time.Sleep(100 * time.Millisecond)
	}
	verify(t, s, crypto.SHA256, crypto.SHA256, "after re-login")
}

// Many goroutines find the sessions gone at the same moment: one of them
// logs in again, the rest retry on fresh sessions, and every signature
// succeeds. (Closing sessions while SoftHSM2 is inside C_Sign on another
// thread crashes SoftHSM2 itself, so the closing happens between rounds.)
func TestRecoveryWhileManySign(t *testing.T) {
	tok, token, s, logs := openWithKey(t, 4)
	c, slot, _ := rawSession(t, tok)
	for round := range 3 {
		if err := c.CloseAllSessions(slot); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() { verify(t, s, crypto.SHA256, crypto.SHA256, "round") })
		}
		wg.Wait()
		if err := token.Health(context.Background()); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	if n := strings.Count(logs.String(), "available again"); n != 3 {
		t.Fatalf("%d re-logins for 3 losses:\n%s", n, logs.String())
	}
}
