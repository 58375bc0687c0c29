package tsa_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/tsa"
	"github.com/muhr-pki/muhr/tsa/clockguard"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

func granted(t *testing.T, e *env) {
	t.Helper()
	serialOf(t, e.post(t, request(t, nil)))
}

func health(t *testing.T, e *env) (int, string) {
	t.Helper()
	res, err := http.Get(e.url + "/tsa/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct{ Status, Reason string }
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, body.Status
}

// The TSA behind the real clock guard: a 2 s NTP offset or a 2 s wall-clock
// step gets timeNotAvailable and degraded health, and tokens flow again
// once the clock is right.
func TestClockGuardRefusesAndRecovers(t *testing.T) {
	ossl := openssl(t)
	ntpSrv := tsatest.NewFakeNTP(t)
	clk := tsatest.NewStepClock()
	g, err := clockguard.New(clockguard.Options{
		Budget: 500 * time.Millisecond, RequireSync: true, Servers: []string{ntpSrv.Addr},
		Clock: clk,
		Kernel: func() (clockguard.KernelState, error) {
			return clockguard.KernelState{Synced: true, MaxError: 5 * time.Millisecond}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil, func(o *tsa.Options) { o.Clock = g })
	measure := func() {
		if err := g.Measure(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	wantRejected(t, ossl, e.post(t, request(t, nil)), tsa.TimeNotAvailable) // not measured yet
	measure()
	granted(t, e)
	if code, st := health(t, e); code != http.StatusOK || st != "ok" {
		t.Fatalf("health %d %s", code, st)
	}

	ntpSrv.SetSkew(2 * time.Second)
	measure()
	wantRejected(t, ossl, e.post(t, request(t, nil)), tsa.TimeNotAvailable)
	if code, st := health(t, e); code != http.StatusServiceUnavailable || st != "degraded" {
		t.Fatalf("health %d %s while the clock is off", code, st)
	}
	ntpSrv.SetSkew(0)
	measure()
	granted(t, e)

	clk.Step(2 * time.Second)
	wantRejected(t, ossl, e.post(t, request(t, nil)), tsa.TimeNotAvailable)
	clk.Step(-2 * time.Second)
	granted(t, e)
	if code, _ := health(t, e); code != http.StatusOK {
		t.Fatalf("health %d after recovery", code)
	}
}
