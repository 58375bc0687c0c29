package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPublicHealthz(t *testing.T) {
	secret := "dial unix /run/pg/.s.PGSQL.5432 at db.internal: connection refused"
	cases := []struct {
		name   string
		checks []*Check
		code   int
		body   string
	}{
		{"all ok", nil, 200, `{"status":"ok","hsm":"ok","db":"ok"}`},
		{"db unwritable", []*Check{
			{Name: "hsm", Code: ReasonKeyCannotSign, Probe: ok()},
			{Name: "db", Code: ReasonDBUnwritable, Probe: down(secret)},
		}, 503, `{"status":"down","reason":"db_unwritable","hsm":"ok","db":"db_unwritable"}`},
		{"classified hsm failure", []*Check{
			{Name: "hsm", Code: ReasonKeyCannotSign, Probe: down("token gone"), Classify: func(err error) string {
				if strings.Contains(err.Error(), "token") {
					return ReasonHSMUnavailable
				}
				return ""
			}},
			{Name: "db", Code: ReasonDBUnwritable, Probe: ok()},
		}, 503, `{"status":"down","reason":"hsm_unavailable","hsm":"hsm_unavailable","db":"ok"}`},
		{"degraded only", []*Check{
			{Name: "db", Code: ReasonDBUnwritable, Probe: ok()},
			{Name: "tsa_clock", Code: "clock_untrusted", Degrades: true, Probe: down("clock stepped 2s")},
		}, 503, `{"status":"degraded","reason":"clock_untrusted","db":"ok","tsa_clock":"clock_untrusted"}`},
		{"down beats degraded", []*Check{
			{Name: "tsa_clock", Code: "clock_untrusted", Degrades: true, Probe: down("x")},
			{Name: "db", Code: ReasonDBUnwritable, Probe: down("y")},
		}, 503, `{"status":"down","reason":"db_unwritable","tsa_clock":"clock_untrusted","db":"db_unwritable"}`},
		{"two keys, one fails", []*Check{
			{Name: "hsm", Target: "a", Code: ReasonKeyCannotSign, Probe: ok()},
			{Name: "hsm", Target: "b", Code: ReasonKeyCannotSign, Probe: down("CKR_KEY_HANDLE_INVALID")},
		}, 503, `{"status":"down","reason":"key_cannot_sign","hsm":"key_cannot_sign"}`},
		{"nil probe", []*Check{{Name: "db", Code: ReasonDBUnwritable}}, 503,
			`{"status":"down","reason":"not_configured","db":"not_configured"}`},
		{"panicking probe", []*Check{{Name: "hsm", Code: ReasonKeyCannotSign,
			Probe: CheckerFunc(func(context.Context) error { panic("boom at /var/lib/x") })}}, 503,
			`{"status":"down","reason":"key_cannot_sign","hsm":"key_cannot_sign"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, nil, tc.checks...)
			res := env.do(t, http.MethodGet, "/healthz", nil)
			body := wantStatus(t, res, tc.code)
			if body != tc.body+"\n" {
				t.Errorf("body %s, want %s", body, tc.body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
		})
	}
}

// The details (error text) are on the operations listener and in the log,
// never on the public one.
func TestHealthDetailsOnOpsOnly(t *testing.T) {
	secret := "database is locked (SQLITE_BUSY) at /srv/muhr/muhr.db"
	env := newTestEnv(t, nil,
		&Check{Name: "hsm", Target: "tsa-key", Code: ReasonKeyCannotSign, Probe: ok()},
		&Check{Name: "db", Target: "write", Code: ReasonDBUnwritable, Probe: down(secret)},
	)
	pub := wantStatus(t, env.do(t, http.MethodGet, "/healthz", nil), 503)
	if strings.Contains(pub, "/srv") || strings.Contains(pub, "locked") {
		t.Fatalf("public health shows internals: %s", pub)
	}
	var rep Report
	body := wantStatus(t, env.ops(t, http.MethodGet, "/healthz"), 503)
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if rep.Status != StatusDown || rep.Reason != ReasonDBUnwritable || len(rep.Checks) != 2 {
		t.Fatalf("report %+v", rep)
	}
	db := rep.Checks[1]
	if db.Name != "db" || db.Target != "write" || db.Status != StatusDown || db.Reason != ReasonDBUnwritable || db.Error != secret {
		t.Fatalf("db result %+v", db)
	}
	if rep.Checks[0].Status != StatusOK || rep.Checks[0].Target != "tsa-key" {
		t.Fatalf("hsm result %+v", rep.Checks[0])
	}
	logs := env.logs.String()
	if !strings.Contains(logs, "SQLITE_BUSY") || !strings.Contains(logs, `"reason":"db_unwritable"`) {
		t.Fatalf("failure not logged with its details: %s", logs)
	}
	// Logged once per change, not per probe.
	wantStatus(t, env.do(t, http.MethodGet, "/healthz", nil), 503)
	if n := strings.Count(env.logs.String(), "health check failed"); n != 1 {
		t.Fatalf("failure logged %d times", n)
	}
}

// A checker that ignores its context must not hold the probe past the
// timeout, nor be started again while it hangs.
func TestHealthHangingChecker(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var calls atomic.Int32
	hang := CheckerFunc(func(context.Context) error { calls.Add(1); <-release; return nil })
	env := newTestEnv(t, func(o *Options) { o.HealthTimeout = 50 * time.Millisecond },
		&Check{Name: "hsm", Code: ReasonKeyCannotSign, Probe: hang},
		&Check{Name: "db", Code: ReasonDBUnwritable, Probe: ok()},
	)
	body := wantStatus(t, env.do(t, http.MethodGet, "/healthz", nil), 503)
	if body != `{"status":"down","reason":"key_cannot_sign","hsm":"key_cannot_sign","db":"ok"}`+"\n" {
		t.Fatalf("body %s", body)
	}
	var rep Report
	if err := json.Unmarshal([]byte(wantStatus(t, env.ops(t, http.MethodGet, "/healthz"), 503)), &rep); err != nil {
		t.Fatal(err)
	}
	if e := rep.Checks[0].Error; e != "the previous probe has not returned" {
		t.Fatalf("second round: %q", e)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("hung checker started %d times", n)
	}
}

// The checks of one round run concurrently: each waits until the other has
// started, which a sequential implementation would never see.
func TestHealthChecksConcurrent(t *testing.T) {
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
	env := newTestEnv(t, func(o *Options) { o.HealthTimeout = 10 * time.Second },
		&Check{Name: "hsm", Probe: waitBoth}, &Check{Name: "db", Probe: waitBoth})
	wantStatus(t, env.do(t, http.MethodGet, "/healthz", nil), http.StatusOK)
}

// 1,000 concurrent probes of a healthy center all get 200, and the
// checks run once: probes are coalesced and the result is cached.
func TestHealthThousandConcurrentProbes(t *testing.T) {
	var calls atomic.Int32
	gate := make(chan struct{})
	slow := CheckerFunc(func(ctx context.Context) error {
		calls.Add(1)
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	env := newTestEnv(t, func(o *Options) { o.HealthTTL = time.Hour; o.HealthTimeout = time.Minute },
		&Check{Name: "hsm", Probe: slow}, &Check{Name: "db", Probe: ok()})
	ts := httptest.NewServer(env.srv.Handler())
	defer ts.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000}}
	const n = 1000
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			res, err := client.Get(ts.URL + "/healthz")
			if err != nil {
				codes <- -1
				return
			}
			res.Body.Close()
			codes <- res.StatusCode
		})
	}
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	close(codes)
	bad := map[int]int{}
	for c := range codes {
		if c != http.StatusOK {
			bad[c]++
		}
	}
	if len(bad) != 0 {
		t.Fatalf("non-200 answers: %v", bad)
	}
	if c := calls.Load(); c != 1 {
		t.Fatalf("the HSM was probed %d times for %d concurrent probes", c, n)
	}
}

// A result older than the TTL is not served: the next probe runs a round.
func TestHealthTTL(t *testing.T) {
	var fail atomic.Bool
	probe := CheckerFunc(func(context.Context) error {
		if fail.Load() {
			return errors.New("gone")
		}
		return nil
	})
	cached := newTestEnv(t, func(o *Options) { o.HealthTTL = time.Hour }, &Check{Name: "db", Probe: probe})
	wantStatus(t, cached.do(t, http.MethodGet, "/healthz", nil), 200)
	fail.Store(true)
	wantStatus(t, cached.do(t, http.MethodGet, "/healthz", nil), 200) // within the TTL

	fresh := newTestEnv(t, func(o *Options) { o.HealthTTL = time.Nanosecond }, &Check{Name: "db", Probe: probe})
	fail.Store(false)
	wantStatus(t, fresh.do(t, http.MethodGet, "/healthz", nil), 200)
	fail.Store(true)
	time.Sleep(time.Millisecond)
	wantStatus(t, fresh.do(t, http.MethodGet, "/healthz", nil), 503)
}

// A probe whose client gives up does not fail the round for the others.
func TestHealthProbeCancelled(t *testing.T) {
	gate := make(chan struct{})
	probe := CheckerFunc(func(ctx context.Context) error { <-gate; return ctx.Err() })
	env := newTestEnv(t, func(o *Options) { o.HealthTimeout = time.Minute }, &Check{Name: "db", Probe: probe})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := env.srv.Health().Report(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled probe: %v", err)
	}
	close(gate)
	rep, err := env.srv.Health().Report(context.Background())
	if err != nil || rep.Status != StatusOK {
		t.Fatalf("round after a cancelled probe: %+v %v", rep, err)
	}
}

func TestHealthGauges(t *testing.T) {
	env := newTestEnv(t, nil,
		&Check{Name: "hsm", Probe: down("gone")},
		&Check{Name: "db", Probe: ok()},
		&Check{Name: "tsa_clock", Probe: ok(), Degrades: true})
	m := env.metricsText(t)
	for _, line := range []string{
		`muhr_dependency_up{dependency="hsm"} 0`,
		`muhr_dependency_up{dependency="db"} 1`,
		`muhr_dependency_up{dependency="tsa_clock"} 1`,
	} {
		if !strings.Contains(m, line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}
}

func TestOneLine(t *testing.T) {
	long := strings.Repeat("й", 400) // 2 bytes per rune: the cut must not split one
	got := oneLine(long)
	if !strings.HasSuffix(got, "…") || len(got) > maxErrorLen+len("…") {
		t.Errorf("len %d", len(got))
	}
	if !strings.HasPrefix(long, strings.TrimSuffix(got, "…")) {
		t.Error("truncation split a rune")
	}
	if got := oneLine(fmt.Sprint("line one\nline\ttwo")); got != "line one line two" {
		t.Errorf("got %q", got)
	}
}
