package httpx

import (
	"strconv"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The per-label-set cache of series: many goroutines observing label sets
// that differ in one label each (and first seen concurrently) count into
// the right series, none lost and none shared.
func TestMetricsSeriesCache(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	type set struct {
		listener, route, method string
		code, n                 int
	}
	sets := []set{
		{"public", "/ocsp/", "GET", 200, 300},
		{"public", "/ocsp/", "GET", 304, 200},
		{"public", "/ocsp/", "POST", 200, 250},
		{"public", "/ocsp", "POST", 200, 150},
		{"ops", "/ocsp/", "GET", 200, 100},
	}
	var wg sync.WaitGroup
	for _, s := range sets {
		for g := range 4 { // four goroutines per set, racing to create it
			wg.Go(func() {
				for range s.n / 4 {
					m.observe(s.listener, s.route, s.method, s.code, 0.001*float64(g+1))
				}
			})
		}
	}
	wg.Wait()
	lat := map[[3]string]int{}
	for _, s := range sets {
		got := testutil.ToFloat64(m.requests.WithLabelValues(s.listener, s.route, s.method, strconv.Itoa(s.code)))
		if int(got) != s.n/4*4 {
			t.Errorf("%+v: counted %v, want %d", s, got, s.n/4*4)
		}
		lat[[3]string{s.listener, s.route, s.method}] += s.n / 4 * 4
	}
	if n := testutil.CollectAndCount(m.requests); n != len(sets) {
		t.Errorf("%d request series, want %d", n, len(sets))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[[3]string]int{}
	for _, mf := range mfs {
		if mf.GetName() != "muhr_http_request_duration_seconds" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			var k [3]string
			for _, l := range mt.GetLabel() {
				switch l.GetName() {
				case "listener":
					k[0] = l.GetValue()
				case "route":
					k[1] = l.GetValue()
				case "method":
					k[2] = l.GetValue()
				}
			}
			got[k] = int(mt.GetHistogram().GetSampleCount())
		}
	}
	if len(got) != len(lat) {
		t.Errorf("latency series %v, want %v", got, lat)
	}
	for k, want := range lat {
		if got[k] != want {
			t.Errorf("latency %v: %d samples, want %d", k, got[k], want)
		}
	}
}
