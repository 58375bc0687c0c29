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
	mu    sync.Mutex
	st    clockguard.KernelState
	reads int
}

func (k *kernel) set(s clockguard.KernelState) { k.mu.Lock(); k.st = s; k.mu.Unlock() }
func (k *kernel) read() (clockguard.KernelState, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reads++
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

// Without NTP servers, a step is resolved once the kernel reports the
// clock unsynchronised (as settimeofday marks it) and then synchronised
// again within budget; the re-anchoring is recorded first, and a failed
// record keeps the clock refused. A kernel that stays synchronised
// throughout does not vouch for a stepped clock.
func TestStepReanchoredWhenKernelResyncs(t *testing.T) {
	c := newFakeClock()
	k := &kernel{st: synced(10 * time.Millisecond)}
	var recs []clockguard.Reanchor
	var fail error
	g, _ := newGuard(t, clockguard.Options{Clock: c, Kernel: k.read, RequireSync: true,
		OnReanchor: func(_ context.Context, r clockguard.Reanchor) error {
			if fail != nil {
				return fail
			}
			recs = append(recs, r)
			return nil
		}})
	wantTrusted(t, g)
	c.Step(3 * time.Second)
	wantUntrusted(t, g, "stepped")
	c.Pass(24 * time.Hour)
	wantUntrusted(t, g, "stepped") // the kernel said synced all along: not enough
	k.set(clockguard.KernelState{Synced: false, MaxError: 16 * time.Second})
	wantUntrusted(t, g, "stepped")
	k.set(synced(2 * time.Second))
	wantUntrusted(t, g, "stepped") // synced, but its bound is over budget
	k.set(synced(20 * time.Millisecond))
	fail = errors.New("audit log unavailable")
	wantUntrusted(t, g, "not recorded")
	fail = nil
	wantTrusted(t, g)
	if len(recs) != 1 || recs[0].Source != "kernel" || recs[0].Step < 3*time.Second-time.Millisecond ||
		recs[0].Step > 3*time.Second+100*time.Millisecond || recs[0].MaxError != 20*time.Millisecond {
		t.Fatalf("re-anchor records %+v, want one for the 3s step", recs)
	}
	wantTrusted(t, g) // anchored at the new reading: no second record
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	c.Step(-3 * time.Second) // a new step needs a new resync
	wantUntrusted(t, g, "stepped")
}

// Run polls the kernel while a step is unresolved, so a resync between
// requests is seen: without the poll, a kernel that reported unsynced only
// while nobody asked would leave the clock refused for ever.
func TestRunPollsKernelAfterStep(t *testing.T) {
	c := newFakeClock()
	k := &kernel{st: synced(10 * time.Millisecond)}
	reanchored := make(chan struct{}, 1)
	g, _ := newGuard(t, clockguard.Options{Clock: c, Kernel: k.read, KernelPoll: 5 * time.Millisecond,
		OnReanchor: func(context.Context, clockguard.Reanchor) error { reanchored <- struct{}{}; return nil }})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c.Step(2 * time.Second)
	wantUntrusted(t, g, "stepped")
	go g.Run(ctx)
	k.mu.Lock()
	k.st, k.reads = clockguard.KernelState{Synced: false}, 0
	k.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) { // polled while unsynced, no request
		k.mu.Lock()
		n := k.reads
		k.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run never read the kernel state")
		}
	}
	k.set(synced(10 * time.Millisecond))
	select {
	case <-reanchored:
	case <-time.After(10 * time.Second):
		t.Fatal("no re-anchoring after the kernel resynchronised")
	}
	wantTrusted(t, g)
}
