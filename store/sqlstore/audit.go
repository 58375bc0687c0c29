package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/store"
)

// The audit log. details is read as text: the exact bytes that were hashed
// (PostgreSQL's json type keeps them).
const auditColumns = "seq, time, actor, action, object, CAST(details AS TEXT), prev_hash, hash"

func scanAudit(sc scanner) (store.AuditRecord, error) {
	var a store.AuditRecord
	var details string
	err := sc.Scan(&a.Seq, timeInto{&a.Time}, &a.Actor, &a.Action, &a.Object, &details, &a.PrevHash, &a.Hash)
	a.Details = []byte(details)
	return a, err
}

func (c conn) AuditRecords(ctx context.Context, afterSeq int64, limit int) ([]store.AuditRecord, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%s: audit records: limit %d must be positive", c.d.Name, limit)
	}
	return list(ctx, c, "audit records", scanAudit,
		"SELECT "+auditColumns+" FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", afterSeq, limit)
}

// AppendAudit locks the chain (until the transaction ends), reads its head
// and inserts the record audit.Seal makes from e. On PostgreSQL the lock is
// taken in its own statement first: under READ COMMITTED each statement sees
// what was committed when it started, so the head read after the lock is the
// one whoever held it before us appended. On SQLite the transaction already
// holds the only write lock (BEGIN IMMEDIATE).
func (t *tx) AppendAudit(ctx context.Context, at time.Time, e store.AuditEntry) (store.AuditRecord, error) {
	if t.d.AuditLock != "" {
		if _, err := t.exec(ctx, t.d.AuditLock, t.d.AuditLockKey); err != nil {
			return store.AuditRecord{}, t.errorf(err, "lock audit chain")
		}
	}
	var last *store.AuditRecord
	head, err := scanAudit(t.row(ctx, "SELECT "+auditColumns+" FROM audit_log ORDER BY seq DESC LIMIT 1"))
	switch {
	case err == nil:
		last = &head
	case !errors.Is(err, sql.ErrNoRows):
		return store.AuditRecord{}, t.errorf(err, "audit chain head")
	}
	r, err := audit.Seal(last, at, e)
	if err != nil {
		return store.AuditRecord{}, err
	}
	_, err = t.exec(ctx, "INSERT INTO audit_log (seq, time, actor, action, object, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, "+
		t.d.JSONArg+", ?, ?)", r.Seq, t.d.time(r.Time), r.Actor, r.Action, r.Object, string(r.Details), r.PrevHash, r.Hash)
	if err != nil {
		return store.AuditRecord{}, t.insertErr(err, store.ErrExists, store.ErrNotFound, "insert audit record %d", r.Seq)
	}
	return r, nil
}
