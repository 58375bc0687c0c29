package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func (e *testEnv) metricsText(t *testing.T) string {
	t.Helper()
	return wantStatus(t, e.ops(t, http.MethodGet, "/metrics"), http.StatusOK)
}

func TestMetricsCountRequests(t *testing.T) {
	env := newTestEnv(t, nil)
	wantStatus(t, env.do(t, http.MethodGet, "/ca/root.crt", nil), http.StatusOK)
	wantStatus(t, env.do(t, http.MethodGet, "/ca/nope.crt", nil), http.StatusNotFound)
	wantStatus(t, env.do(t, http.MethodGet, "/no/such/path", nil), http.StatusNotFound)
	wantStatus(t, env.do(t, "BREW", "/healthz", nil), http.StatusMethodNotAllowed)
	m := env.metricsText(t)
	for _, line := range []string{
		`muhr_http_requests_total{code="200",listener="public",method="GET",route="/ca/{file}"} 1`,
		`muhr_http_requests_total{code="404",listener="public",method="GET",route="/ca/{file}"} 1`,
		`muhr_http_requests_total{code="404",listener="public",method="GET",route="unmatched"} 1`,
		`muhr_http_requests_total{code="405",listener="public",method="OTHER",route="unmatched"} 1`,
		`muhr_http_request_duration_seconds_count{listener="public",method="GET",route="/ca/{file}"} 2`,
		`muhr_dependency_up{dependency="hsm"} 1`,
		`muhr_dependency_up{dependency="db"} 1`,
	} {
		if !strings.Contains(m, line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}
	if strings.Contains(m, "/no/such/path") || strings.Contains(m, "BREW") {
		t.Error("raw path or method leaked into labels")
	}
}

// Metrics and the detailed health are on the operations listener only; the
// public one serves neither.
func TestListenersSplitRoutes(t *testing.T) {
	env := newTestEnv(t, nil)
	wantStatus(t, env.do(t, http.MethodGet, "/metrics", nil), http.StatusNotFound)
	if b := wantStatus(t, env.do(t, http.MethodGet, "/healthz", nil), 200); strings.Contains(b, "checks") {
		t.Errorf("public health holds details: %s", b)
	}
	if b := wantStatus(t, env.ops(t, http.MethodGet, "/healthz"), 200); !strings.Contains(b, `"checks":[`) {
		t.Errorf("ops health lacks details: %s", b)
	}
	wantStatus(t, env.ops(t, http.MethodGet, "/ca/root.crt"), http.StatusNotFound)
	m := env.metricsText(t)
	if !strings.Contains(m, `muhr_http_requests_total{code="200",listener="ops",method="GET",route="/healthz"} 1`) {
		t.Errorf("ops requests not labelled: %s", m)
	}
}

// Without a repository (a process without the repository role) its routes
// are not mounted.
func TestNoRepositoryNoRoutes(t *testing.T) {
	env := newTestEnv(t, func(o *Options) { o.Repository = nil })
	wantStatus(t, env.do(t, http.MethodGet, "/ca/root.crt", nil), http.StatusNotFound)
	wantStatus(t, env.do(t, http.MethodGet, "/healthz", nil), http.StatusOK)
}

// Metrics go to the registry passed in, never to the global default.
func TestMetricsNotGlobal(t *testing.T) {
	env := newTestEnv(t, nil)
	wantStatus(t, env.do(t, http.MethodGet, "/healthz", nil), http.StatusOK)
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "muhr_") {
			t.Errorf("%s registered globally", mf.GetName())
		}
	}
}

func TestNewPanicsOnDoubleRegistration(t *testing.T) {
	env := newTestEnv(t, nil)
	defer func() {
		if recover() == nil {
			t.Error("second New on the same registry did not panic")
		}
	}()
	New(Options{Repository: env.repo, Registry: env.reg})
}
