package httpx

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the request collectors the middleware records into, shared
// by every listener of a process (the listener is a label).
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// series remembers the children of each label set: resolving labels
	// (hashing four strings, a lock, a slice) on every request cost more
	// than the increment itself. The label sets are bounded (routes,
	// methods, codes), so is the map.
	mu     sync.RWMutex
	series map[seriesKey]series
}

type seriesKey struct {
	listener, route, method string
	code                    int
}

type series struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// NewMetrics registers the request collectors on reg (never the global
// registry). It fails when they are registered there already.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "muhr_http_requests_total",
			Help: "HTTP requests served, by listener, route pattern, method and status code.",
		}, []string{"listener", "route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "muhr_http_request_duration_seconds",
			Help: "Time to serve an HTTP request, by listener, route pattern and method.",
			// Finer at the low end than DefBuckets: repository, TSA and
			// OCSP answers take well under 5 ms.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"listener", "route", "method"}),
		series: map[seriesKey]series{},
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register http metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) observe(listener, route, method string, code int, seconds float64) {
	k := seriesKey{listener, route, method, code}
	m.mu.RLock()
	s, ok := m.series[k]
	m.mu.RUnlock()
	if !ok {
		s = series{
			requests: m.requests.WithLabelValues(listener, route, method, strconv.Itoa(code)),
			latency:  m.latency.WithLabelValues(listener, route, method),
		}
		m.mu.Lock()
		m.series[k] = s
		m.mu.Unlock()
	}
	s.requests.Inc()
	s.latency.Observe(seconds)
}

// RouteLabel turns the matched pattern into a bounded label: the pattern
// without its method, or "unmatched" for 404s, 405s and redirects of
// ServeMux, so arbitrary client paths never become label values.
func RouteLabel(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if _, rest, ok := strings.Cut(pattern, " "); ok {
		return strings.TrimSpace(rest)
	}
	return pattern
}

// MethodLabel keeps the method label bounded: a method a client makes up
// is counted as OTHER.
func MethodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions,
		http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}
