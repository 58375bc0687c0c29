package clockguard

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	offset, maxError, step, trusted prometheus.Gauge
	ntpFailures                     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		offset: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "muhr_tsa_clock_offset_seconds",
			Help: "Median NTP offset (server minus local) of the last NTP round.",
		}),
		maxError: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "muhr_tsa_clock_kernel_max_error_seconds",
			Help: "The kernel's maximum clock error (adjtimex) while synchronised.",
		}),
		step: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "muhr_tsa_clock_step_seconds",
			Help: "Wall-clock step against the monotonic clock since the clock was last confirmed.",
		}),
		trusted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "muhr_tsa_clock_trusted",
			Help: "1 while the TSA trusts its clock and issues tokens, 0 while it refuses.",
		}),
		ntpFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "muhr_tsa_clock_ntp_failures_total",
			Help: "NTP queries that got no usable answer.",
		}),
	}
	m.trusted.Set(1)
	if reg != nil {
		for _, c := range []prometheus.Collector{m.offset, m.maxError, m.step, m.trusted, m.ntpFailures} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("clockguard: register metrics: %w", err)
			}
		}
	}
	return m, nil
}
