package server

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's collectors, registered on the registry from
// Options (never the global default registry).
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	up       *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, checks []namedCheck) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "muhr_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "muhr_http_request_duration_seconds",
			Help: "Time to serve an HTTP request, by route pattern and method.",
			// Finer at the low end than DefBuckets: repository and OCSP
			// answers from a cache take well under 5 ms.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "muhr_dependency_up",
			Help: "1 if the dependency passed its last health check, 0 if not.",
		}, []string{"dependency"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.up} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	// Expose every dependency from the start (as down until checked) so an
	// alert on the series does not depend on someone having probed first.
	for _, c := range checks {
		m.up.WithLabelValues(c.name).Set(0)
	}
	return m, nil
}

// metricsHandler refreshes the dependency gauges before each scrape, so
// they are current even when no load balancer is polling /healthz.
func (s *Server) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{s},
		ErrorHandling: promhttp.ContinueOnError,
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.checkAll(r.Context())
		h.ServeHTTP(w, r)
	})
}

// promLogger routes promhttp's gather errors to slog.
type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) {
	l.s.log.Error("metrics gather", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}

// observeRequest records one finished request.
func (m *metrics) observeRequest(route, method string, code int, seconds float64) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route, method).Observe(seconds)
}

func (m *metrics) setUp(dep string, ok bool) {
	v := 0.0
	if ok {
		v = 1
	}
	m.up.WithLabelValues(dep).Set(v)
}

// routeLabel turns the matched ServeMux pattern into a bounded label: the
// pattern without its method, or "unmatched" for 404s, 405s and redirects,
// so arbitrary client paths never become label values.
func routeLabel(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if _, rest, ok := strings.Cut(pattern, " "); ok {
		return strings.TrimSpace(rest)
	}
	return pattern
}

// methodLabel keeps the method label bounded: any method a client makes up
// is counted as OTHER.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions,
		http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}
