package clockguard_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/muhr-pki/muhr/tsa/clockguard"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

func newFakeClock() *tsatest.StepClock { return tsatest.NewStepClock() }

type kernel struct {
	mu sync.Mutex
	st clockguard.KernelState
}

func (k *kernel) set(s clockguard.KernelState) { k.mu.Lock(); k.st = s; k.mu.Unlock() }
func (k *kernel) read() (clockguard.KernelState, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.st, nil
}

const budget = 500 * time.Millisecond

func newGuard(t *testing.T, o clockguard.Options) (*clockguard.Guard, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Budget, o.Registry = budget, reg
	g, err := clockguard.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return g, reg
}

func wantTrusted(t *testing.T, g *clockguard.Guard) {
	t.Helper()
	if _, err := g.Now(t.Context()); err != nil {
		t.Fatalf("clock untrusted: %v", err)
	}
}

func wantUntrusted(t *testing.T, g *clockguard.Guard, why string) {
	t.Helper()
	_, err := g.Now(t.Context())
	if !errors.Is(err, clockguard.ErrUntrusted) || !strings.Contains(err.Error(), why) {
		t.Fatalf("err = %v, want untrusted because %q", err, why)
	}
}

func synced(maxErr time.Duration) clockguard.KernelState {
	return clockguard.KernelState{Synced: true, MaxError: maxErr}
}

func TestWallClockJump(t *testing.T) {
	c := newFakeClock()
	k := &kernel{st: synced(10 * time.Millisecond)}
	g, reg := newGuard(t, clockguard.Options{Clock: c, Kernel: k.read, RequireSync: true})
	wantTrusted(t, g)
	c.Step(2 * time.Second)
	wantUntrusted(t, g, "stepped")
	if v := testutil.ToFloat64(gauge(t, reg, "muhr_tsa_clock_trusted")); v != 0 {
		t.Errorf("trusted gauge %v while untrusted", v)
	}
	c.Step(-2 * time.Second) // the clock is set right again
	wantTrusted(t, g)
	c.Step(-2 * time.Second)
	wantUntrusted(t, g, "stepped")
	c.Step(2 * time.Second)
	wantTrusted(t, g)
	// Time passing on both clocks is no step.
	c.Pass(time.Hour)
	wantTrusted(t, g)
}

func TestKernelState(t *testing.T) {
	k := &kernel{}
	g, _ := newGuard(t, clockguard.Options{Clock: newFakeClock(), Kernel: k.read, RequireSync: true})
	wantUntrusted(t, g, "unsynchronised")
	k.set(synced(100 * time.Millisecond))
	wantTrusted(t, g)
	k.set(synced(2 * time.Second))
	wantUntrusted(t, g, "maximum error")

	// require_sync off (the demo): an unsynchronised clock is used, its
	// meaningless maxerror ignored; a synchronised one is still checked.
	g2, _ := newGuard(t, clockguard.Options{Clock: newFakeClock(), Kernel: k.read})
	k.set(clockguard.KernelState{Synced: false, MaxError: 16 * time.Second})
	wantTrusted(t, g2)
	k.set(synced(2 * time.Second))
	wantUntrusted(t, g2, "maximum error")
}

// The real NTP client against a local responder the test skews.
func TestNTPOffset(t *testing.T) {
	srv := tsatest.NewFakeNTP(t)
	c := newFakeClock()
	k := &kernel{st: synced(time.Millisecond)}
	g, reg := newGuard(t, clockguard.Options{Clock: c, Kernel: k.read, RequireSync: true,
		Servers: []string{srv.Addr}, Interval: time.Minute, MaxAge: 300 * time.Millisecond})
	wantUntrusted(t, g, "no NTP measurement")
	measure(t, g)
	wantTrusted(t, g)

	srv.SetSkew(2 * time.Second)
	measure(t, g)
	wantUntrusted(t, g, "NTP offset")
	if v := testutil.ToFloat64(gauge(t, reg, "muhr_tsa_clock_offset_seconds")); v < 1.9 || v > 2.1 {
		t.Errorf("offset gauge %v, want about 2", v)
	}
	srv.SetSkew(0)
	measure(t, g)
	wantTrusted(t, g)

	// A measurement that is too old no longer vouches for the clock.
	time.Sleep(400 * time.Millisecond)
	wantUntrusted(t, g, "old")
	measure(t, g)
	wantTrusted(t, g)
}

// A step that NTP confirms (the clock was wrong and is now right) is
// accepted after the next good measurement.
func TestStepConfirmedByNTP(t *testing.T) {
	srv := tsatest.NewFakeNTP(t)
	c := newFakeClock()
	g, _ := newGuard(t, clockguard.Options{Clock: c, Kernel: (&kernel{}).read, Servers: []string{srv.Addr}})
	measure(t, g)
	c.Step(2 * time.Second)
	srv.SetSkew(2 * time.Second)
	wantUntrusted(t, g, "stepped")
	measure(t, g)
	wantTrusted(t, g)
}

func TestNTPUnreachable(t *testing.T) {
	g, _ := newGuard(t, clockguard.Options{Clock: newFakeClock(), Kernel: (&kernel{}).read,
		Servers: []string{"127.0.0.1:9"}, Timeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := g.Measure(ctx); err == nil {
		t.Fatal("Measure without an answering server succeeded")
	}
	wantUntrusted(t, g, "no NTP measurement")
}

func measure(t *testing.T, g *clockguard.Guard) {
	t.Helper()
	if err := g.Measure(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "copy"})
			g.Set(mf.GetMetric()[0].GetGauge().GetValue())
			return g
		}
	}
	t.Fatalf("metric %s not registered", name)
	return nil
}
