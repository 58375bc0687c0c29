package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

type namedCheck struct {
	name string
	c    Checker
}

// healthResponse is the /healthz body. Fields are fixed (not a map) so the
// JSON key order is stable for humans and scripts.
type healthResponse struct {
	Status   string `json:"status"`
	HSM      string `json:"hsm"`
	DB       string `json:"db"`
	TSAClock string `json:"tsa_clock,omitempty"`
}

// AddCheck adds a named dependency to /healthz and the dependency gauge,
// for roles mounted after New (the TSA's clock guard). Call it before
// Serve. A failing added check makes the status "degraded" (503): the
// center answers, but that role refuses work until the check passes.
func (s *Server) AddCheck(name string, c Checker) {
	s.checks = append(s.checks, namedCheck{name: name, c: c})
	s.metrics.up.WithLabelValues(name).Set(0)
}

// maxReasonLen bounds the failure reason shown on the public endpoint; the
// full error goes to the log.
const maxReasonLen = 200

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	res := s.checkAll(r.Context())
	body := healthResponse{Status: "ok", HSM: res["hsm"], DB: res["db"], TSAClock: res["tsa_clock"]}
	code := http.StatusOK
	for name, v := range res {
		if v == "ok" {
			continue
		}
		code = http.StatusServiceUnavailable
		if name == "hsm" || name == "db" {
			body.Status = "down"
		} else if body.Status == "ok" {
			body.Status = "degraded"
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		s.internalError(w, r, fmt.Errorf("encode health: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// A cached "ok" would hide an outage from the next probe.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// checkAll runs every check concurrently under the health timeout, updates
// the gauges and returns "ok" or "down: <reason>" per dependency.
func (s *Server) checkAll(ctx context.Context) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, s.healthTimeout)
	defer cancel()

	type result struct {
		i   int
		err error
	}
	done := make(chan result, len(s.checks)) // buffered: late checkers never block
	for i, nc := range s.checks {
		go func() { done <- result{i, runCheck(ctx, nc.c)} }()
	}

	errs := make([]error, len(s.checks))
	answered := make([]bool, len(s.checks))
wait:
	for got := 0; got < len(s.checks); got++ {
		select {
		case res := <-done:
			errs[res.i], answered[res.i] = res.err, true
		case <-ctx.Done():
			// A checker that ignores ctx must not hold the probe.
			break wait
		}
	}

	out := make(map[string]string, len(s.checks))
	for i, nc := range s.checks {
		err := errs[i]
		if !answered[i] || (ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded)) {
			err = fmt.Errorf("no answer within %s", s.healthTimeout)
		}
		s.metrics.setUp(nc.name, err == nil)
		if err == nil {
			out[nc.name] = "ok"
			continue
		}
		s.log.WarnContext(ctx, "health check failed", "dependency", nc.name, "err", err)
		out[nc.name] = "down: " + publicReason(err)
	}
	return out
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

// publicReason makes an error fit for the public JSON: one line, bounded.
func publicReason(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if len(msg) <= maxReasonLen {
		return msg
	}
	cut := maxReasonLen
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}
