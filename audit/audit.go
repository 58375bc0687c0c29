// Package audit keeps the center's append-only, hash-chained audit log. Each
// record stores the SHA-256 of the previous record's canonical bytes, so
// changing, removing or reordering any record but the newest breaks the
// chain at a point Verify names.
//
// A record is written in the same transaction as the state change it
// describes: callers pass their store.Tx to Append.
package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/store"
)

// ErrInvalidEntry is returned for an entry without actor or action.
var ErrInvalidEntry = errkind.New(errkind.Invalid, "audit: invalid entry")

// Entry is what a caller records.
type Entry struct {
	Actor   string // who: an officer's certificate subject, "muhrd", "ceremony", ...
	Action  string // what, dotted: "cert.issue", "ca.create", ...
	Object  string // on what: "cert/<issuer>/<serial hex>", "ca/<id>", ...
	Details any    // JSON-encodable; stored in canonical form
}

// Append adds e to the chain inside tx, at time now. tx.LastAuditRecord
// locks the chain until tx ends, so concurrent appends queue rather than
// fork the chain; if tx rolls back the record goes with it.
func Append(ctx context.Context, tx store.Tx, now time.Time, e Entry) (store.AuditRecord, error) {
	if e.Actor == "" || e.Action == "" {
		return store.AuditRecord{}, fmt.Errorf("%w: actor and action are required (action %q)", ErrInvalidEntry, e.Action)
	}
	details, err := CanonicalDetails(e.Details)
	if err != nil {
		return store.AuditRecord{}, fmt.Errorf("%w: %w", ErrInvalidEntry, err)
	}
	last, err := tx.LastAuditRecord(ctx)
	if err != nil {
		return store.AuditRecord{}, fmt.Errorf("audit: %w", err)
	}
	r := store.AuditRecord{
		Seq: 1,
		// The stores keep microseconds; hashing the truncated time means
		// the hash still matches after a round trip.
		Time:     now.UTC().Truncate(time.Microsecond),
		Actor:    e.Actor,
		Action:   e.Action,
		Object:   e.Object,
		Details:  details,
		PrevHash: make([]byte, HashSize),
	}
	if last != nil {
		r.Seq = last.Seq + 1
		r.PrevHash = Hash(*last)
	}
	r.Hash = Hash(r)
	if err := tx.InsertAuditRecord(ctx, r); err != nil {
		return store.AuditRecord{}, fmt.Errorf("audit: append %s: %w", e.Action, err)
	}
	return r, nil
}
