// Package audit keeps the center's append-only, hash-chained audit log. Each
// record stores the SHA-256 of the previous record's canonical bytes, so
// changing, removing or reordering any record but the newest breaks the
// chain at a point Verify names.
//
// A record is written in the same transaction as the state change it
// describes: callers pass their transaction (an audit.Chain) to Append. The
// chain is appended only through this package: the store's one audit write
// takes an Entry and calls Seal under the chain's lock, so there is no way
// to insert a record that does not chain.
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
type Entry = store.AuditEntry

// Chain is the part of a transaction that appends to the audit log
// (store.Tx has it). Its one method takes an entry, never a record.
type Chain interface {
	AppendAudit(ctx context.Context, at time.Time, e Entry) (store.AuditRecord, error)
}

// Append adds e to the chain inside tx, at time now. If tx rolls back the
// record goes with it.
func Append(ctx context.Context, tx Chain, now time.Time, e Entry) (store.AuditRecord, error) {
	if err := validate(e); err != nil {
		return store.AuditRecord{}, err
	}
	r, err := tx.AppendAudit(ctx, now, e)
	if err != nil {
		return store.AuditRecord{}, fmt.Errorf("audit: append %s: %w", e.Action, err)
	}
	return r, nil
}

func validate(e Entry) error {
	if e.Actor == "" || e.Action == "" {
		return fmt.Errorf("%w: actor and action are required (action %q)", ErrInvalidEntry, e.Action)
	}
	return nil
}

// Seal makes the record that follows last (nil for an empty log) from e at
// time at. It is for store implementations, which call it while holding the
// chain's lock with last read under that lock.
func Seal(last *store.AuditRecord, at time.Time, e Entry) (store.AuditRecord, error) {
	if err := validate(e); err != nil {
		return store.AuditRecord{}, err
	}
	details, err := CanonicalDetails(e.Details)
	if err != nil {
		return store.AuditRecord{}, fmt.Errorf("%w: %w", ErrInvalidEntry, err)
	}
	r := store.AuditRecord{
		Seq: 1,
		// The stores keep microseconds; hashing the truncated time means
		// the hash still matches after a round trip.
		Time:     at.UTC().Truncate(time.Microsecond),
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
	return r, nil
}
