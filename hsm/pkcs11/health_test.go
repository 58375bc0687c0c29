package pkcs11_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/hsm/softhsm"
)

// Health and ProbeKey under a crowd of concurrent callers on a healthy
// token: every one gets nil (a TryLock here once failed 30% of them), and
// the crowd costs the token a handful of probe signatures, not thousands.
func TestHealthAndProbeUnderConcurrency(t *testing.T) {
	_, token, _ := sharedToken(t)
	ctx := context.Background()
	before := pkcs11.ProbeSignatures(token)
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := range 2000 {
		wg.Go(func() {
			var err error
			switch i % 3 {
			case 0:
				err = token.Health(ctx)
			case 1:
				err = token.ProbeKey(ctx, "key-"+string(hsm.ECDSAP256))
			default:
				err = token.ProbeKey(ctx, "key-"+string(hsm.RSA2048))
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of 2000 concurrent Health/ProbeKey calls failed, first: %v", n, firstErr.Load())
	}
	// Two keys probed, each at most once per ~1.5 s: a slow run may take a
	// few intervals, never one signature per call.
	if n := pkcs11.ProbeSignatures(token) - before; n < 2 || n > 40 {
		t.Fatalf("%d probe signatures for 1,333 probes of 2 keys", n)
	}
}

func TestProbeKey(t *testing.T) {
	_, token, _ := sharedToken(t)
	ctx := context.Background()
	for _, alg := range []hsm.KeyAlgorithm{hsm.ECDSAP384, hsm.RSA3072} {
		if err := token.ProbeKey(ctx, "key-"+string(alg)); err != nil {
			t.Fatalf("probe %s: %v", alg, err)
		}
	}
	err := token.ProbeKey(ctx, "no-such-key")
	if !errors.Is(err, hsm.ErrKeyNotFound) || !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("probe of a missing key: %v", err)
	}
}

// SignContext gives up when its context ends while every session is busy.
func TestSignContextWaitsForSessionWithinDeadline(t *testing.T) {
	_, token, s, _ := openWithKey(t, 1)
	cs := s.(interface {
		SignContext(context.Context, io.Reader, []byte, crypto.SignerOpts) ([]byte, error)
	})
	release := pkcs11.HoldSessions(token)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := cs.SignContext(ctx, rand.Reader, digest(crypto.SHA256, "x"), crypto.SHA256)
	release()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SignContext with all sessions busy: %v", err)
	}
	if _, err := cs.SignContext(context.Background(), rand.Reader, digest(crypto.SHA256, "x"), crypto.SHA256); err != nil {
		t.Fatal(err)
	}
}

// eventually polls f until it returns true or d passes.
func eventually(t *testing.T, d time.Duration, what string, f func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !f() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// The token's directory disappears: Health and ProbeKey say so (they once
// kept saying ok while every signature failed). It comes back: the same
// Token re-finds the token and its keys, with no restart.
func TestTokenDirRemovedAndRestored(t *testing.T) {
	tok, token, s, logs := openWithKey(t, 3)
	pkcs11.SetRetryInterval(token, 300*time.Millisecond)
	ctx := context.Background()
	if err := token.Health(ctx); err != nil {
		t.Fatal(err)
	}
	if err := token.ProbeKey(ctx, "recover-me"); err != nil {
		t.Fatal(err)
	}
	// Out of the token directory: SoftHSM2 takes any directory in it
	// for a token.
	dir := tok.Dir(t)
	away := filepath.Join(filepath.Dir(tok.TokenDir(t)), filepath.Base(dir)+".away")
	if err := os.Rename(dir, away); err != nil {
		t.Fatal(err)
	}
	restored := false
	defer func() {
		if !restored {
			os.Rename(away, dir)
		}
	}()
	took := eventually(t, 10*time.Second, "Health and ProbeKey fail after the token directory went", func() bool {
		return token.Health(ctx) != nil && token.ProbeKey(ctx, "recover-me") != nil
	})
	t.Logf("down detected in %v", took)
	if err := token.Health(ctx); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Health while gone: %v", err)
	}
	if _, err := s.Sign(rand.Reader, digest(crypto.SHA256, "gone"), crypto.SHA256); err == nil {
		t.Fatal("signed without a token")
	}

	if err := os.Rename(away, dir); err != nil {
		t.Fatal(err)
	}
	restored = true
	took = eventually(t, 60*time.Second, "Health, ProbeKey and Sign work after the directory came back", func() bool {
		if token.Health(ctx) != nil || token.ProbeKey(ctx, "recover-me") != nil {
			return false
		}
		_, err := s.Sign(rand.Reader, digest(crypto.SHA256, "back"), crypto.SHA256)
		return err == nil
	})
	t.Logf("recovered in %v", took)
	verify(t, s, crypto.SHA256, crypto.SHA256, "after restore")
	if keys, err := token.Keys(ctx); err != nil || len(keys) != 1 {
		t.Fatalf("Keys after restore: %v %v", keys, err)
	}
	if !strings.Contains(logs.String(), "re-initialising the PKCS#11 library") {
		t.Fatalf("no re-initialisation logged:\n%s", logs.String())
	}
}

// A process killed during SoftHSM's rewrite of token.object at login leaves
// it empty. The next Open puts back the copy kept before that login and
// says so; without a copy it names the real cause and the restore command.
func TestOpenRepairsEmptiedTokenObject(t *testing.T) {
	tok, token, s, _ := openWithKey(t, 1)
	verify(t, s, crypto.SHA256, crypto.SHA256, "before")
	token.Close()
	obj := filepath.Join(tok.Dir(t), softhsm.TokenObject)
	if err := os.WriteFile(obj, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cfg := tok.Config(1)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	again, err := pkcs11.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open after token.object was emptied: %v", err)
	}
	defer again.Close()
	s2, err := again.Signer(context.Background(), "recover-me")
	if err != nil {
		t.Fatal(err)
	}
	verify(t, s2, crypto.SHA256, crypto.SHA256, "after repair")
	if l := logs.String(); !strings.Contains(l, "restored SoftHSM2 token.object") || !strings.Contains(l, "is empty") {
		t.Fatalf("repair not logged:\n%s", l)
	}
}

func TestOpenExplainsLostTokenObject(t *testing.T) {
	tok, token, _, _ := openWithKey(t, 1)
	token.Close()
	dir := tok.Dir(t)
	os.Remove(filepath.Join(dir, "token.object.muhr-good"))
	if err := os.WriteFile(filepath.Join(dir, softhsm.TokenObject), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := pkcs11.Open(context.Background(), tok.Config(1))
	var d *softhsm.DamageError
	if !errors.Is(err, hsm.ErrTokenNotFound) || !errors.As(err, &d) {
		t.Fatalf("Open of a token with an empty token.object: %v", err)
	}
	for _, want := range []string{dir, "token.object is empty", "killed during that rewrite", "muhr hsm restore"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "tokens present: none") {
		t.Errorf("misleading error: %v", err)
	}
}
