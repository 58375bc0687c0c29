package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func (e *testEnv) metricsText(t *testing.T) string {
	t.Helper()
	res := e.do(t, http.MethodGet, "/metrics", nil)
	return wantStatus(t, res, http.StatusOK)
}

func TestMetricsCountRequests(t *testing.T) {
	env := newTestEnv(t, nil)
	wantStatus(t, env.do(t, http.MethodGet, "/ca/root.crt", nil), http.StatusOK)
	wantStatus(t, env.do(t, http.MethodGet, "/ca/nope.crt", nil), http.StatusNotFound)
	wantStatus(t, env.do(t, http.MethodGet, "/no/such/path", nil), http.StatusNotFound)
	wantStatus(t, env.do(t, "BREW", "/healthz", nil), http.StatusMethodNotAllowed)

	m := env.metricsText(t)
	for _, line := range []string{
		`muhr_http_requests_total{code="200",method="GET",route="/ca/{file}"} 1`,
		`muhr_http_requests_total{code="404",method="GET",route="/ca/{file}"} 1`,
		// Client-chosen paths and methods never become label values.
		`muhr_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`muhr_http_requests_total{code="405",method="OTHER",route="unmatched"} 1`,
		`muhr_http_request_duration_seconds_count{method="GET",route="/ca/{file}"} 2`,
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

func TestNewPanicsWithoutRepository(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New without a Repository did not panic")
		}
	}()
	New(Options{})
}
