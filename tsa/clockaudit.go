package tsa

import (
	"context"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/tsa/clockguard"
)

// AuditTxStore is the one thing the clock's audit record needs: a
// transaction to append it in.
type AuditTxStore interface {
	InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error
}

// ClockAuditor returns the clock guard's OnReanchor: each re-anchoring
// after a wall-clock step is appended to the audit chain ("tsa.clock.reanchor",
// by actor) in its own transaction before the TSA trusts the clock again.
// now is the record's time (nil: time.Now).
func ClockAuditor(st AuditTxStore, actor string, now func() time.Time) func(context.Context, clockguard.Reanchor) error {
	if now == nil {
		now = time.Now
	}
	return func(ctx context.Context, r clockguard.Reanchor) error {
		details := map[string]any{"step_ns": r.Step.Nanoseconds(), "source": r.Source}
		switch r.Source {
		case "kernel":
			details["kernel_max_error_ns"] = r.MaxError.Nanoseconds()
		case "ntp":
			details["ntp_offset_ns"] = r.Offset.Nanoseconds()
		}
		return st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			_, err := audit.Append(ctx, tx, now(), audit.Entry{Actor: actor, Action: "tsa.clock.reanchor",
				Object: "tsa/clock", Details: details})
			return err
		})
	}
}
