package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func down(reason string) Checker {
	return CheckerFunc(func(context.Context) error { return errors.New(reason) })
}

func TestHealthz(t *testing.T) {
	cases := []struct {
		name   string
		health Health
		code   int
		want   healthResponse
	}{
		{"all ok", Health{HSM: ok(), DB: ok()}, http.StatusOK,
			healthResponse{Status: "ok", HSM: "ok", DB: "ok"}},
		{"hsm down", Health{HSM: down("token not present"), DB: ok()}, http.StatusServiceUnavailable,
			healthResponse{Status: "down", HSM: "down: token not present", DB: "ok"}},
		{"db down", Health{HSM: ok(), DB: down("dial unix /run/pg: connection refused")}, http.StatusServiceUnavailable,
			healthResponse{Status: "down", HSM: "ok", DB: "down: dial unix /run/pg: connection refused"}},
		{"both down", Health{HSM: down("a"), DB: down("b")}, http.StatusServiceUnavailable,
			healthResponse{Status: "down", HSM: "down: a", DB: "down: b"}},
		{"nil checker", Health{HSM: ok()}, http.StatusServiceUnavailable,
			healthResponse{Status: "down", HSM: "ok", DB: "down: not configured"}},
		{"panicking checker", Health{HSM: CheckerFunc(func(context.Context) error { panic("boom") }), DB: ok()},
			http.StatusServiceUnavailable,
			healthResponse{Status: "down", HSM: "down: check panicked: boom", DB: "ok"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, func(o *Options) { o.Health = tc.health })
			res := env.do(t, http.MethodGet, "/healthz", nil)
			body := wantStatus(t, res, tc.code)
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			var got healthResponse
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestHealthzExactJSON(t *testing.T) {
	env := newTestEnv(t, nil)
	body := wantStatus(t, env.do(t, http.MethodGet, "/healthz", nil), http.StatusOK)
	if want := `{"status":"ok","hsm":"ok","db":"ok"}` + "\n"; body != want {
		t.Errorf("body %q, want %q", body, want)
	}
}

// A checker that ignores its context must not hold the probe past the
// health timeout.
func TestHealthzHangingChecker(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	hang := CheckerFunc(func(context.Context) error { <-release; return nil })
	env := newTestEnv(t, func(o *Options) {
		o.Health = Health{HSM: hang, DB: ok()}
		o.HealthTimeout = 50 * time.Millisecond
	})
	start := time.Now()
	body := wantStatus(t, env.do(t, http.MethodGet, "/healthz", nil), http.StatusServiceUnavailable)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("probe took %v", d)
	}
	var got healthResponse
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.HSM != "down: no answer within 50ms" || got.DB != "ok" {
		t.Errorf("got %+v", got)
	}
}

// The checks run concurrently: each waits until the other has started,
// which a sequential implementation would never see.
func TestHealthzConcurrentChecks(t *testing.T) {
	var started sync.WaitGroup
	started.Add(2)
	both := make(chan struct{})
	go func() { started.Wait(); close(both) }()
	waitBoth := CheckerFunc(func(ctx context.Context) error {
		started.Done()
		select {
		case <-both:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	env := newTestEnv(t, func(o *Options) {
		o.Health = Health{HSM: waitBoth, DB: waitBoth}
		o.HealthTimeout = 5 * time.Second
	})
	wantStatus(t, env.do(t, http.MethodGet, "/healthz", nil), http.StatusOK)
}

func TestHealthGauges(t *testing.T) {
	env := newTestEnv(t, func(o *Options) { o.Health = Health{HSM: down("gone"), DB: ok()} })
	wantStatus(t, env.do(t, http.MethodGet, "/healthz", nil), http.StatusServiceUnavailable)
	m := env.metricsText(t)
	for _, line := range []string{
		`muhr_dependency_up{dependency="hsm"} 0`,
		`muhr_dependency_up{dependency="db"} 1`,
	} {
		if !strings.Contains(m, line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}
	if !strings.Contains(env.logs.String(), `"dependency":"hsm"`) {
		t.Errorf("failed check not logged: %s", env.logs.String())
	}
}

func TestPublicReason(t *testing.T) {
	long := strings.Repeat("й", 300) // 2 bytes per rune: the cut must not split one
	got := publicReason(errors.New(long))
	if !strings.HasSuffix(got, "…") || len(got) > maxReasonLen+len("…") {
		t.Errorf("len %d: %q", len(got), got)
	}
	if !strings.HasPrefix(long, strings.TrimSuffix(got, "…")) {
		t.Error("truncation split a rune")
	}
	if got := publicReason(errors.New("line one\nline\ttwo")); got != "line one line two" {
		t.Errorf("got %q", got)
	}
}

// A role's own check (the TSA clock) shows as its own field; failing, it
// makes the center "degraded", not "down", and still 503 so a load
// balancer stops sending that role work.
func TestHealthzAddedCheck(t *testing.T) {
	var clockErr error
	env := newTestEnv(t, nil)
	env.srv.AddCheck("tsa_clock", CheckerFunc(func(context.Context) error { return clockErr }))

	body := wantStatus(t, env.do(t, http.MethodGet, "/healthz", nil), http.StatusOK)
	if want := `{"status":"ok","hsm":"ok","db":"ok","tsa_clock":"ok"}` + "\n"; body != want {
		t.Fatalf("body %q, want %q", body, want)
	}
	clockErr = errors.New("clock stepped 2s")
	body = wantStatus(t, env.do(t, http.MethodGet, "/healthz", nil), http.StatusServiceUnavailable)
	var got healthResponse
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if want := (healthResponse{Status: "degraded", HSM: "ok", DB: "ok", TSAClock: "down: clock stepped 2s"}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	metrics := readAll(t, env.do(t, http.MethodGet, "/metrics", nil))
	if !strings.Contains(metrics, `muhr_dependency_up{dependency="tsa_clock"} 0`) {
		t.Fatalf("no tsa_clock gauge in /metrics")
	}
}
