package tsa

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	responses *prometheus.CounterVec
	latency   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "muhr_tsa_responses_total",
			Help: "Time-stamp responses, by result: granted or the PKIFailureInfo name.",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "muhr_tsa_response_seconds",
			Help:    "Time to answer a time-stamp request (checks, clock, HSM signature, ledger).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.responses, m.latency} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("tsa: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) observe(result string, d time.Duration) {
	m.responses.WithLabelValues(result).Inc()
	m.latency.Observe(d.Seconds())
}
