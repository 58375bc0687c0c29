package httpx

import (
	"github.com/muhr-pki/muhr/internal/testlog"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = testlog.Buffer

type env struct {
	mux  *Mux
	h    http.Handler
	reg  *prometheus.Registry
	logs *syncBuffer
}

// newEnv wraps a fresh Mux logging at level into logs.
func newEnv(t *testing.T, level slog.Level, edit func(*Options)) *env {
	t.Helper()
	e := &env{mux: NewMux(), reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	m, err := NewMetrics(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		Listener:     "public",
		Logger:       slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: level})),
		Metrics:      m,
		MaxBodyBytes: 64,
	}
	if edit != nil {
		edit(&o)
	}
	e.h = Wrap(e.mux, o)
	return e
}

func (e *env) do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec.Result()
}

func (e *env) get(t *testing.T, target string) *http.Response {
	t.Helper()
	return e.do(t, httptest.NewRequest(http.MethodGet, target, nil))
}

// count returns muhr_http_requests_total for the labels given as
// name, value pairs (0 when no series matches).
func (e *env) count(t *testing.T, labels ...string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "muhr_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			match := true
			for i := 0; i+1 < len(labels); i += 2 {
				match = match && got[labels[i]] == labels[i+1]
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantStatus(t *testing.T, r *http.Response, code int) string {
	t.Helper()
	b := body(t, r)
	if r.StatusCode != code {
		t.Fatalf("status %d, want %d; body %q", r.StatusCode, code, b)
	}
	return b
}

func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
