// Package clockguard tells the TSA how far it may trust the local clock
// before each token. It combines three independent checks, any of which
// makes the clock untrusted:
//
//   - the kernel's synchronisation state and maximum error (adjtimex);
//   - the offset measured against configured NTP servers on a schedule;
//   - steps of the wall clock relative to the monotonic clock since the last
//     time the clock was confirmed (start-up, or a good NTP measurement).
//
// After a step the clock is confirmed again (re-anchored) by a good NTP
// round, or, without NTP servers, once the kernel reports the clock
// synchronised again within the budget after having reported it
// unsynchronised (settimeofday marks it so; a time daemon clears the mark
// when it has disciplined the clock). Every re-anchoring after a step is
// handed to Options.OnReanchor (the audit log) before it takes effect.
//
// An untrusted clock gives an error wrapping ErrUntrusted; the TSA answers
// timeNotAvailable and reports degraded health until the checks pass again.
package clockguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrUntrusted means the clock may be off by more than the budget.
var ErrUntrusted = errors.New("clock not trusted")

// Clock is the local clock: wall time, and a monotonic reading that steps
// of the wall clock do not move (both are slewed alike by NTP).
type Clock interface {
	Wall() time.Time
	Mono() time.Duration
}

// SystemClock is the process's clock.
func SystemClock() Clock { return systemClock{start: time.Now()} }

type systemClock struct{ start time.Time }

func (c systemClock) Wall() time.Time     { return time.Now().Round(0) } // Round(0) drops the monotonic reading
func (c systemClock) Mono() time.Duration { return time.Since(c.start) }

// KernelState is what adjtimex reports.
type KernelState struct {
	Synced   bool          // STA_UNSYNC clear and state not TIME_ERROR
	MaxError time.Duration // the kernel's bound on the clock's error
}

// Sample is one NTP measurement: server time minus local time.
type Sample struct {
	Offset       time.Duration
	RootDistance time.Duration
}

// Query measures the offset of the local clock now() against one server.
type Query func(ctx context.Context, server string, now func() time.Time) (Sample, error)

// Options configures a Guard. Zero Clock, Kernel and Query use the system
// clock, adjtimex and beevik/ntp.
type Options struct {
	// Budget is the largest clock error tolerated.
	Budget time.Duration
	// RequireSync refuses while the kernel says the clock is unsynchronised.
	RequireSync bool
	// Servers are NTP servers (host or host:port); none disables NTP checks.
	Servers  []string
	Interval time.Duration // between NTP rounds; default 1 min
	Timeout  time.Duration // per NTP query; default 2 s
	// MaxAge is how old the last good NTP round may be; default 3×Interval.
	MaxAge   time.Duration
	Clock    Clock
	Kernel   func() (KernelState, error)
	Query    Query
	Registry prometheus.Registerer // nil registers nothing
	Logger   *slog.Logger
	// OnReanchor records a re-anchoring after a step before it takes
	// effect; an error keeps the clock untrusted (retried on the next
	// reading). Nil records nothing.
	OnReanchor func(ctx context.Context, r Reanchor) error
	// KernelPoll is how often Run reads the kernel state while a step is
	// unresolved, so a resynchronisation is seen; default 1 s.
	KernelPoll time.Duration
}

// Reanchor describes the confirmation of the clock after a wall-clock step.
type Reanchor struct {
	Step     time.Duration // the step against the monotonic clock
	Source   string        // "kernel" or "ntp"
	MaxError time.Duration // the kernel's bound at re-anchoring (source kernel)
	Offset   time.Duration // the NTP offset at re-anchoring (source ntp)
}

// Guard is safe for concurrent use.
type Guard struct {
	o       Options
	metrics *metrics
	log     *slog.Logger

	mu         sync.Mutex
	anchorWall time.Time     // wall and monotonic readings taken together
	anchorMono time.Duration //   when the clock was last confirmed
	ntp        *measurement  // last NTP round that got an answer
	trusted    bool          // last verdict, for logging changes
	stepped    bool          // a step beyond budget is unresolved
	sawUnsync  bool          //   and since it, the kernel said unsynchronised

	reanchorMu sync.Mutex // one re-anchoring (and audit record) at a time
}

type measurement struct {
	offset time.Duration
	mono   time.Duration
}

// New builds a Guard anchored at the current reading of the clock.
func New(o Options) (*Guard, error) {
	if o.Budget <= 0 {
		return nil, errors.New("clockguard: budget must be positive")
	}
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 3 * o.Interval
	}
	if o.KernelPoll <= 0 {
		o.KernelPoll = time.Second
	}
	if o.Clock == nil {
		o.Clock = SystemClock()
	}
	if o.Kernel == nil {
		o.Kernel = ReadKernel
	}
	if o.Query == nil {
		o.Query = QueryNTP(o.Timeout)
	}
	g := &Guard{o: o, log: o.Logger, trusted: true}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	g.metrics = m
	g.anchorWall, g.anchorMono = o.Clock.Wall(), o.Clock.Mono()
	return g, nil
}

// Now returns the wall time if the clock is trusted, else an error wrapping
// ErrUntrusted that says why.
func (g *Guard) Now(ctx context.Context) (time.Time, error) {
	wall, mono := g.o.Clock.Wall(), g.o.Clock.Mono()
	reason := g.evaluate(ctx, wall, mono)
	g.record(ctx, reason)
	if reason != "" {
		return time.Time{}, fmt.Errorf("%w: %s", ErrUntrusted, reason)
	}
	return wall, nil
}

// Check is Now without the time, for health checks.
func (g *Guard) Check(ctx context.Context) error {
	_, err := g.Now(ctx)
	return err
}

// evaluate returns "" when every check passes, else the first reason.
func (g *Guard) evaluate(ctx context.Context, wall time.Time, mono time.Duration) string {
	g.mu.Lock()
	step := wall.Sub(g.anchorWall) - (mono - g.anchorMono)
	ntp := g.ntp
	g.mu.Unlock()
	g.metrics.step.Set(step.Seconds())
	ks, kerr := g.o.Kernel()
	if abs(step) > g.o.Budget {
		if reason := g.afterStep(ctx, step, ks, kerr, wall, mono); reason != "" {
			return reason
		}
	} else {
		g.mu.Lock()
		g.stepped, g.sawUnsync = false, false
		g.mu.Unlock()
	}

	switch {
	case kerr != nil && g.o.RequireSync:
		return fmt.Sprintf("cannot read the kernel clock state: %v", kerr)
	case kerr != nil:
	case !ks.Synced && g.o.RequireSync:
		return "kernel reports the clock unsynchronised"
	case ks.Synced:
		g.metrics.maxError.Set(ks.MaxError.Seconds())
		if ks.MaxError > g.o.Budget {
			return fmt.Sprintf("kernel maximum error %s exceeds %s", ks.MaxError, g.o.Budget)
		}
	}

	if len(g.o.Servers) == 0 {
		return ""
	}
	switch {
	case ntp == nil:
		return "no NTP measurement yet"
	case mono-ntp.mono > g.o.MaxAge:
		return fmt.Sprintf("last NTP measurement is %s old (max %s)", (mono - ntp.mono).Round(time.Second), g.o.MaxAge)
	case abs(ntp.offset) > g.o.Budget:
		return fmt.Sprintf("NTP offset %s exceeds %s", ntp.offset, g.o.Budget)
	}
	return ""
}

// afterStep handles a reading beyond budget from the anchor: it re-anchors
// (returning "") when the kernel vouches for the clock again, else returns
// why the clock is refused. With NTP servers only a good NTP round
// re-anchors: the kernel is then not the judge.
func (g *Guard) afterStep(ctx context.Context, step time.Duration, ks KernelState, kerr error, wall time.Time, mono time.Duration) string {
	refuse := fmt.Sprintf("wall clock stepped %s against the monotonic clock (budget %s)", step, g.o.Budget)
	kernelGood := kerr == nil && ks.Synced && ks.MaxError <= g.o.Budget
	g.mu.Lock()
	g.stepped = true
	if kerr == nil && !kernelGood {
		g.sawUnsync = true
	}
	ready := g.sawUnsync && kernelGood && len(g.o.Servers) == 0
	g.mu.Unlock()
	if !ready {
		if len(g.o.Servers) == 0 {
			return refuse + "; waiting for the kernel to report the clock synchronised again"
		}
		return refuse
	}
	if err := g.reanchor(ctx, wall, mono, Reanchor{Step: step, Source: "kernel", MaxError: ks.MaxError}); err != nil {
		return refuse + "; re-anchoring not recorded: " + err.Error()
	}
	return ""
}

// reanchor records r and then confirms the clock at (wall, mono). A
// concurrent caller that finds the step already resolved does nothing.
func (g *Guard) reanchor(ctx context.Context, wall time.Time, mono time.Duration, r Reanchor) error {
	g.reanchorMu.Lock()
	defer g.reanchorMu.Unlock()
	g.mu.Lock()
	pending := g.stepped
	g.mu.Unlock()
	if !pending {
		return nil
	}
	if g.o.OnReanchor != nil {
		if err := g.o.OnReanchor(ctx, r); err != nil {
			g.log.ErrorContext(ctx, "tsa clock: cannot record re-anchoring; still refusing", "err", err)
			return err
		}
	}
	g.mu.Lock()
	g.anchorWall, g.anchorMono = wall, mono
	g.stepped, g.sawUnsync = false, false
	g.mu.Unlock()
	g.log.WarnContext(ctx, "tsa clock re-anchored after a wall-clock step", "step", r.Step, "source", r.Source)
	return nil
}

// record logs changes of the verdict and sets the trusted gauge.
func (g *Guard) record(ctx context.Context, reason string) {
	trusted := reason == ""
	g.mu.Lock()
	changed := trusted != g.trusted
	g.trusted = trusted
	g.mu.Unlock()
	if trusted {
		g.metrics.trusted.Set(1)
	} else {
		g.metrics.trusted.Set(0)
	}
	if !changed {
		return
	}
	if trusted {
		g.log.InfoContext(ctx, "tsa clock trusted again")
	} else {
		g.log.ErrorContext(ctx, "tsa clock NOT trusted: refusing time-stamps", "reason", reason)
	}
}

// Measure runs one NTP round: every server is asked, the median offset of
// those that answer is kept. A round within budget also confirms the clock,
// so a wall-clock step that brought the clock right is accepted.
func (g *Guard) Measure(ctx context.Context) error {
	if len(g.o.Servers) == 0 {
		return nil
	}
	type result struct {
		s   Sample
		err error
	}
	results := make([]result, len(g.o.Servers))
	var wg sync.WaitGroup
	for i, srv := range g.o.Servers {
		wg.Go(func() {
			s, err := g.o.Query(ctx, srv, g.o.Clock.Wall)
			if err == nil && s.RootDistance > g.o.Budget {
				err = fmt.Errorf("root distance %s exceeds %s", s.RootDistance, g.o.Budget)
			}
			results[i] = result{s, err}
		})
	}
	wg.Wait()
	var offsets []time.Duration
	var errs []error
	for i, r := range results {
		if r.err != nil {
			g.metrics.ntpFailures.Inc()
			errs = append(errs, fmt.Errorf("%s: %w", g.o.Servers[i], r.err))
			continue
		}
		offsets = append(offsets, r.s.Offset)
	}
	if len(offsets) == 0 {
		return fmt.Errorf("clockguard: no NTP server answered: %w", errors.Join(errs...))
	}
	off := median(offsets)
	wall, mono := g.o.Clock.Wall(), g.o.Clock.Mono()
	g.metrics.offset.Set(off.Seconds())
	g.mu.Lock()
	g.ntp = &measurement{offset: off, mono: mono}
	step := wall.Sub(g.anchorWall) - (mono - g.anchorMono)
	stepped := abs(step) > g.o.Budget
	if stepped {
		g.stepped = true
	}
	if abs(off) <= g.o.Budget && !stepped {
		g.anchorWall, g.anchorMono = wall, mono
	}
	g.mu.Unlock()
	if abs(off) <= g.o.Budget && stepped {
		if err := g.reanchor(ctx, wall, mono, Reanchor{Step: step, Source: "ntp", Offset: off}); err != nil {
			return fmt.Errorf("clockguard: %w", err)
		}
	}
	if len(errs) > 0 {
		g.log.WarnContext(ctx, "tsa clock: some NTP servers did not answer", "err", errors.Join(errs...))
	}
	return nil
}

// Run measures at once and then every Interval until ctx ends; while a
// step is unresolved it also reads the kernel state every KernelPoll, so a
// resynchronisation is noticed even when no request comes.
func (g *Guard) Run(ctx context.Context) {
	poll := time.NewTicker(g.o.KernelPoll)
	defer poll.Stop()
	var ntpTick <-chan time.Time
	if len(g.o.Servers) > 0 {
		t := time.NewTicker(g.o.Interval)
		defer t.Stop()
		ntpTick = t.C
		g.measureLogged(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ntpTick:
			g.measureLogged(ctx)
		case <-poll.C:
			g.mu.Lock()
			stepped := g.stepped
			g.mu.Unlock()
			if stepped {
				_, _ = g.Now(ctx)
			}
		}
	}
}

func (g *Guard) measureLogged(ctx context.Context) {
	if err := g.Measure(ctx); err != nil {
		g.log.WarnContext(ctx, "tsa clock: NTP round failed", "err", err)
	}
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
