package tsa_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/tsa"
	"github.com/muhr-pki/muhr/tsa/clockguard"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

// A guard wired to ClockAuditor appends one chained audit record when it
// re-anchors after a step, before it trusts the clock again.
func TestClockReanchorAudited(t *testing.T) {
	pki := tsatest.NewPKI(t, nil)
	before, err := pki.Store.AuditRecords(t.Context(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	c := tsatest.NewStepClock()
	synced := true
	g, err := clockguard.New(clockguard.Options{Budget: 500 * time.Millisecond, Clock: c,
		Kernel: func() (clockguard.KernelState, error) {
			return clockguard.KernelState{Synced: synced, MaxError: 5 * time.Millisecond}, nil
		},
		OnReanchor: tsa.ClockAuditor(pki.Store, "muhrd", nil)})
	if err != nil {
		t.Fatal(err)
	}
	c.Step(-5 * time.Second)
	synced = false
	if _, err := g.Now(t.Context()); err == nil {
		t.Fatal("stepped clock trusted")
	}
	synced = true
	if _, err := g.Now(t.Context()); err != nil {
		t.Fatalf("clock not trusted after the kernel resynchronised: %v", err)
	}
	after, err := pki.Store.AuditRecords(t.Context(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before)+1 {
		t.Fatalf("%d audit records added, want 1", len(after)-len(before))
	}
	r := after[len(after)-1]
	var d struct {
		StepNS int64 `json:"step_ns"`
	}
	// The step seen is the 5 s set back plus or minus what the guard's
	// reads took; on a loaded machine that is either side of -5 s.
	if err := json.Unmarshal(r.Details, &d); err != nil || r.Action != "tsa.clock.reanchor" || r.Actor != "muhrd" ||
		!strings.Contains(string(r.Details), `"source":"kernel"`) || d.StepNS > -4_900_000_000 || d.StepNS < -5_100_000_000 {
		t.Fatalf("audit record %s %s %s", r.Actor, r.Action, r.Details)
	}
	if _, err := audit.Verify(t.Context(), pki.Store); err != nil {
		t.Fatalf("audit chain: %v", err)
	}
}
