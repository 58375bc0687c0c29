package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Health statuses.
const (
	StatusOK       = "ok"
	StatusDegraded = "degraded" // a role refuses work (the TSA clock); the rest serves
	StatusDown     = "down"     // something every role here needs is gone
)

// Reason codes the public health answer may show; roles define their own
// (tsa.ReasonClockUntrusted). A code never holds error text.
const (
	ReasonHSMUnavailable = "hsm_unavailable"
	ReasonKeyCannotSign  = "key_cannot_sign"
	ReasonDBUnwritable   = "db_unwritable"
	ReasonDBUnavailable  = "db_unavailable"
	ReasonNotConfigured  = "not_configured"
	ReasonCheckTimeout   = "health_timeout"
)

// Check is one thing a running role needs, probed for /healthz.
type Check struct {
	// Name groups checks in the public answer and the
	// muhr_dependency_up gauge: "hsm", "db", "tsa_clock".
	Name string
	// Target says what exactly is checked, for the operations answer and
	// the log: a key label, "write".
	Target string
	Probe  Checker
	// Code is the public reason code of a failure; Classify, when set,
	// picks one from the error instead (hsm_unavailable vs key_cannot_sign).
	Code     string
	Classify func(error) string
	// Degrades: a failure makes the center "degraded", not "down" (only the
	// role that needs it refuses work).
	Degrades bool

	running atomic.Bool // a probe of this check has not returned yet
}

// CheckResult is the outcome of one check in one round.
type CheckResult struct {
	Name     string        `json:"name"`
	Target   string        `json:"target,omitempty"`
	Status   string        `json:"status"` // ok, or degraded/down
	Reason   string        `json:"reason,omitempty"`
	Error    string        `json:"error,omitempty"` // operations listener and log only
	Duration time.Duration `json:"duration_ns"`
}

// Report is one round of every check.
type Report struct {
	Status    string        `json:"status"`
	Reason    string        `json:"reason,omitempty"` // the first failure that set Status
	CheckedAt time.Time     `json:"checked_at"`
	Checks    []CheckResult `json:"checks"`
}

// Health runs the checks of the running roles. Probes are coalesced: one
// round runs at a time whatever the number of concurrent probes, and its
// report answers every probe for TTL, so a load balancer scraping hard
// (16,000 concurrent probes) neither piles work on the token and the
// database nor sees answers flap. A round is bounded by Timeout; a check
// still running from an earlier round is not started again but reported
// failed, so a hung HSM cannot grow goroutines.
type Health struct {
	timeout time.Duration
	ttl     time.Duration
	clock   func() time.Time
	log     *slog.Logger
	up      *prometheus.GaugeVec

	mu       sync.Mutex
	checks   []*Check
	last     *Report
	inflight chan struct{} // closed when the running round ends
	prev     map[*Check]string
}

func newHealth(timeout, ttl time.Duration, clock func() time.Time, log *slog.Logger, up *prometheus.GaugeVec) *Health {
	return &Health{timeout: timeout, ttl: ttl, clock: clock, log: log, up: up, prev: map[*Check]string{}}
}

// Add adds a check. Call it before serving.
func (h *Health) Add(c *Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks = append(h.checks, c)
	h.last = nil
	// Expose the series from the start (down until checked), so an alert
	// on it does not depend on someone having probed first.
	h.up.WithLabelValues(c.Name).Set(0)
}

// Report returns a report at most TTL old, running a round if needed. It
// returns ctx's error when ctx ends before the round does.
func (h *Health) Report(ctx context.Context) (*Report, error) {
	h.mu.Lock()
	if h.last != nil && h.ttl > 0 && h.clock().Sub(h.last.CheckedAt) < h.ttl {
		r := h.last
		h.mu.Unlock()
		return r, nil
	}
	done := h.inflight
	if done == nil {
		done = make(chan struct{})
		h.inflight = done
		checks := append([]*Check(nil), h.checks...)
		go h.round(checks, done)
	}
	h.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last, nil
}

// round runs every check concurrently under the timeout, detached from the
// probe that started it: one client hanging up must not fail the round for
// the others.
func (h *Health) round(checks []*Check, done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	start := h.clock()
	type answer struct {
		i   int
		err error
		d   time.Duration
	}
	answers := make(chan answer, len(checks)) // buffered: late checks never block
	results := make([]CheckResult, len(checks))
	answered := make([]bool, len(checks))
	pending := 0
	for i, c := range checks {
		results[i] = CheckResult{Name: c.Name, Target: c.Target}
		if !c.running.CompareAndSwap(false, true) {
			results[i].Error = "the previous probe has not returned"
			answered[i] = true
			continue
		}
		pending++
		go func() {
			t0 := time.Now()
			err := runCheck(ctx, c.Probe) // recovers panics: the flag is always cleared
			// Cleared before answering, so the next round never sees a
			// check that has returned as still running.
			c.running.Store(false)
			answers <- answer{i, err, time.Since(t0)}
		}()
	}
	errs := make([]error, len(checks))
wait:
	for ; pending > 0; pending-- {
		select {
		case a := <-answers:
			errs[a.i], answered[a.i], results[a.i].Duration = a.err, true, a.d
		case <-ctx.Done():
			break wait // a checker that ignores ctx must not hold the probe
		}
	}
	rep := &Report{Status: StatusOK, Checks: results}
	groupOK := map[string]bool{}
	for i, c := range checks {
		r := &results[i]
		err := errs[i]
		switch {
		case r.Error != "":
			err = errors.New(r.Error)
		case !answered[i] || (ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded)):
			err = fmt.Errorf("no answer within %s", h.timeout)
		}
		if _, seen := groupOK[c.Name]; !seen {
			groupOK[c.Name] = true
		}
		if err == nil {
			r.Status = StatusOK
			continue
		}
		groupOK[c.Name] = false
		r.Error = oneLine(err.Error())
		r.Reason = reasonOf(c, err)
		r.Status = StatusDown
		if c.Degrades {
			r.Status = StatusDegraded
		}
		switch {
		case r.Status == StatusDown && rep.Status != StatusDown:
			rep.Status, rep.Reason = StatusDown, r.Reason
		case r.Status == StatusDegraded && rep.Status == StatusOK:
			rep.Status, rep.Reason = StatusDegraded, r.Reason
		}
	}
	for name, ok := range groupOK {
		v := 0.0
		if ok {
			v = 1
		}
		h.up.WithLabelValues(name).Set(v)
	}
	rep.CheckedAt = h.clock()
	h.logChanges(checks, results, h.clock().Sub(start))

	h.mu.Lock()
	h.last = rep
	h.inflight = nil
	h.mu.Unlock()
	close(done)
}

// logChanges writes the details of a failure when a check's state changes
// (once, not on every probe) and says when it recovers.
func (h *Health) logChanges(checks []*Check, results []CheckResult, took time.Duration) {
	for i, c := range checks {
		r := results[i]
		state := r.Status + " " + r.Reason
		h.mu.Lock()
		old, seen := h.prev[c]
		h.prev[c] = state
		h.mu.Unlock()
		if seen && old == state {
			continue
		}
		switch {
		case r.Status != StatusOK:
			h.log.Warn("health check failed", "dependency", c.Name, "target", c.Target,
				"reason", r.Reason, "err", r.Error, "round", took)
		case seen:
			h.log.Info("health check recovered", "dependency", c.Name, "target", c.Target)
		}
	}
}

func reasonOf(c *Check, err error) string {
	if errors.Is(err, errNotConfigured) {
		return ReasonNotConfigured
	}
	if c.Classify != nil {
		if code := c.Classify(err); code != "" {
			return code
		}
	}
	if c.Code != "" {
		return c.Code
	}
	return c.Name + "_failed"
}

var errNotConfigured = errors.New("not configured")

// runCheck calls c, turning a panic into an error: a buggy checker must
// not take the daemon down from a goroutine no one recovers.
func runCheck(ctx context.Context, c Checker) (err error) {
	if c == nil {
		return errNotConfigured
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("check panicked: %v", p)
		}
	}()
	return c.Check(ctx)
}

// maxErrorLen bounds an error text in the operations answer.
const maxErrorLen = 500

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxErrorLen {
		s = strings.ToValidUTF8(s[:maxErrorLen], "") + "…"
	}
	return s
}

// publicHealth answers the public GET /healthz: the status, the reason
// code, and per dependency "ok" or its code. Never error text: that is on
// the operations listener and in the log. 200 only when ok, so a load
// balancer stops sending work to a degraded instance too.
func (h *Health) publicHandler(w http.ResponseWriter, r *http.Request) {
	rep, err := h.Report(r.Context())
	if err != nil {
		writeHealth(w, http.StatusServiceUnavailable, []byte(`{"status":"down","reason":"`+ReasonCheckTimeout+`"}`))
		return
	}
	var b strings.Builder
	b.WriteString(`{"status":`)
	writeJSONString(&b, rep.Status)
	if rep.Reason != "" {
		b.WriteString(`,"reason":`)
		writeJSONString(&b, rep.Reason)
	}
	// Field order is the checks' order, for humans and scripts.
	var names []string
	group := map[string]string{}
	for _, c := range rep.Checks {
		v, seen := group[c.Name]
		if !seen {
			names = append(names, c.Name)
			v = StatusOK
		}
		if v == StatusOK && c.Status != StatusOK {
			v = c.Reason
		}
		group[c.Name] = v
	}
	for _, n := range names {
		b.WriteByte(',')
		writeJSONString(&b, n)
		b.WriteByte(':')
		writeJSONString(&b, group[n])
	}
	b.WriteString("}")
	writeHealth(w, statusCode(rep), []byte(b.String()))
}

// detailHandler answers GET /healthz on the operations listener: the whole
// report with each failure's error text.
func (h *Health) detailHandler(w http.ResponseWriter, r *http.Request) {
	rep, err := h.Report(r.Context())
	if err != nil {
		writeHealth(w, http.StatusServiceUnavailable, []byte(`{"status":"down","reason":"`+ReasonCheckTimeout+`"}`))
		return
	}
	b, err := json.Marshal(rep)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeHealth(w, statusCode(rep), b)
}

func statusCode(rep *Report) int {
	if rep.Status == StatusOK {
		return http.StatusOK
	}
	return http.StatusServiceUnavailable
}

func writeHealth(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	// A cached "ok" would hide an outage from the next probe.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

func writeJSONString(b *strings.Builder, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}
