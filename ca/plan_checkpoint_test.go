package ca_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/ca"
)

// The checkpoint key is optional in a plan (older plans stay valid) and,
// when named, checked like every other key.
func TestPlanAuditCheckpointKey(t *testing.T) {
	p := demoPlan(t)
	if p.AuditCheckpoint == nil || p.AuditCheckpoint.Key.Label != "audit-checkpoint" {
		t.Fatalf("demo plan's checkpoint key: %+v", p.AuditCheckpoint)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	p.AuditCheckpoint = nil
	if err := p.Validate(); err != nil {
		t.Fatalf("a plan without audit_checkpoint: %v", err)
	}
	for _, c := range []struct {
		key  ca.KeyPlan
		want string
	}{
		{ca.KeyPlan{Label: p.TSA.Key.Label, Algorithm: "ecdsa-p256"}, "audit_checkpoint.key.label: \"" + p.TSA.Key.Label + "\" is also used by"},
		{ca.KeyPlan{Label: "cp", Algorithm: "dsa"}, "audit_checkpoint.key.algorithm"},
		{ca.KeyPlan{Label: "bad label", Algorithm: "ecdsa-p256"}, "audit_checkpoint.key.label"},
	} {
		p := demoPlan(t)
		p.AuditCheckpoint = &ca.CheckpointPlan{Key: c.key}
		if err := p.Validate(); !errors.Is(err, ca.ErrPlan) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %s", c.key, err, c.want)
		}
	}
}
