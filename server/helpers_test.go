package server

import (
	"context"
	"errors"
	"github.com/muhr-pki/muhr/internal/testlog"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/store"
)

// fakeRepo is an in-memory Repository that counts lookups, so tests can
// assert that bad input never reached it.
type fakeRepo struct {
	cas   map[string]store.CA
	crls  map[string]store.CRL
	err   error // returned by every call when set
	calls atomic.Int64
}

func (f *fakeRepo) GetCA(_ context.Context, id string) (store.CA, error) {
	f.calls.Add(1)
	if f.err != nil {
		return store.CA{}, f.err
	}
	ca, ok := f.cas[id]
	if !ok {
		return store.CA{}, store.ErrNotFound
	}
	return ca, nil
}

func (f *fakeRepo) LatestCRL(_ context.Context, id string) (store.CRL, error) {
	f.calls.Add(1)
	if f.err != nil {
		return store.CRL{}, f.err
	}
	crl, ok := f.crls[id]
	if !ok {
		return store.CRL{}, store.ErrNotFound
	}
	return crl, nil
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = testlog.Buffer

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testHTTP() config.HTTP {
	return config.HTTP{
		ReadHeaderTimeout: 2 * time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      5 * time.Second,
		IdleTimeout:       5 * time.Second,
		ShutdownTimeout:   5 * time.Second,
		MaxHeaderBytes:    16 << 10,
		MaxBodyBytes:      64,
	}
}

type testEnv struct {
	srv  *Server
	repo *fakeRepo
	reg  *prometheus.Registry
	logs *syncBuffer
}

func ok() Checker { return CheckerFunc(func(context.Context) error { return nil }) }

func down(reason string) Checker {
	return CheckerFunc(func(context.Context) error { return errors.New(reason) })
}

// defaultChecks are a healthy token and database.
func defaultChecks() []*Check {
	return []*Check{
		{Name: "hsm", Target: "key-a", Code: ReasonKeyCannotSign, Probe: ok()},
		{Name: "db", Target: "write", Code: ReasonDBUnwritable, Probe: ok()},
	}
}

// newTestEnv builds a server on fakes; edit lets a test adjust the
// options; checks replace defaultChecks. Health results are not cached
// (HealthTTL < 0) unless edit says otherwise.
func newTestEnv(t *testing.T, edit func(*Options), checks ...*Check) *testEnv {
	t.Helper()
	env := &testEnv{
		repo: &fakeRepo{
			cas: map[string]store.CA{
				"root": {ID: "root", Kind: store.CAKindRoot, CertDER: []byte{0x30, 0x03, 0x02, 0x01, 0x07}},
			},
			crls: map[string]store.CRL{},
		},
		reg:  prometheus.NewRegistry(),
		logs: &syncBuffer{},
	}
	opts := Options{
		Repository: env.repo,
		Registry:   env.reg,
		Logger:     slog.New(slog.NewJSONHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		HTTP:       testHTTP(),
		Clock:      func() time.Time { return testNow },
		HealthTTL:  -1,
	}
	if edit != nil {
		edit(&opts)
	}
	env.srv = New(opts)
	if len(checks) == 0 {
		checks = defaultChecks()
	}
	for _, c := range checks {
		env.srv.AddCheck(c)
	}
	return env
}

// do sends one request straight to the handler.
func (e *testEnv) do(t *testing.T, method, target string, body io.Reader) *http.Response {
	t.Helper()
	return e.doReq(t, httptest.NewRequest(method, target, body))
}

func (e *testEnv) doReq(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return rec.Result()
}

// ops sends one request to the operations listener's routes.
func (e *testEnv) ops(t *testing.T, method, target string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	e.srv.OpsHandler().ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Result()
}

func readAll(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

func wantStatus(t *testing.T, r *http.Response, code int) string {
	t.Helper()
	body := readAll(t, r)
	if r.StatusCode != code {
		t.Fatalf("status %d, want %d; body %q", r.StatusCode, code, body)
	}
	return body
}

func wantPlainText(t *testing.T, r *http.Response) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
}
