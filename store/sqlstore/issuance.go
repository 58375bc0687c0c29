package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/muhr-pki/muhr/store"
)

// Issuance holders and intents.

const intentColumns = "issuer_id, serial, request_id, profile, spki_sha256, state, holder_id, request_sha256, created_at, updated_at"

// intentColumnsOf is intentColumns qualified by a table alias, for joins.
func intentColumnsOf(alias string) string {
	return alias + "." + strings.ReplaceAll(intentColumns, ", ", ", "+alias+".")
}

// liveKeyIndex is the unique index on the live intents' public keys; SQLite
// names its column instead of the index when it refuses a row.
const (
	liveKeyIndex  = "issuance_intents_live_key"
	liveKeyColumn = "issuance_intents.spki_sha256"
)

func scanIntent(sc scanner) (store.IssuanceIntent, error) {
	var in store.IssuanceIntent
	var holder sql.NullString
	err := sc.Scan(&in.IssuerID, hexInto{&in.Serial}, &in.RequestID, &in.Profile, &in.SPKIHash, &in.State,
		&holder, &in.RequestHash, timeInto{&in.CreatedAt}, timeInto{&in.UpdatedAt})
	in.HolderID = holder.String
	return in, err
}

func (c conn) intents(ctx context.Context, what, where string, args ...any) ([]store.IssuanceIntent, error) {
	return list(ctx, c, what, scanIntent,
		"SELECT "+intentColumns+" FROM issuance_intents WHERE "+where+" ORDER BY created_at, serial", args...)
}

func (c conn) LiveIntent(ctx context.Context, requestID string) (store.IssuanceIntent, error) {
	in, err := scanIntent(c.row(ctx, "SELECT "+intentColumns+
		" FROM issuance_intents WHERE request_id = ? AND state <> 'abandoned'", requestID))
	if err != nil {
		return store.IssuanceIntent{}, c.errorf(err, "live intent of request %s", requestID)
	}
	return in, nil
}

func (c conn) PendingIntents(ctx context.Context) ([]store.IssuanceIntent, error) {
	return c.intents(ctx, "pending intents", "state = 'pending'")
}

// staleCondition is true for a pending intent (alias i) whose holder is
// gone: none recorded, or its lease ended before the time bound to ?.
const staleCondition = `i.state = 'pending' AND (i.holder_id IS NULL OR
	EXISTS (SELECT 1 FROM issuance_holders h WHERE h.id = i.holder_id AND h.expires_at < ?))`

func (c conn) StaleIntents(ctx context.Context, issuerID string, now time.Time) ([]store.IssuanceIntent, error) {
	return list(ctx, c, "stale intents", scanIntent, "SELECT "+intentColumnsOf("i")+
		" FROM issuance_intents i WHERE i.issuer_id = ? AND "+staleCondition+" ORDER BY i.created_at, i.serial",
		issuerID, c.d.time(now))
}

func (c conn) IntentsBySPKI(ctx context.Context, spkiHash []byte) ([]store.IssuanceIntent, error) {
	return c.intents(ctx, "intents by key", "spki_sha256 = ? AND state <> 'abandoned'", spkiHash)
}

func (c conn) GetHolder(ctx context.Context, id string) (store.IssuanceHolder, error) {
	h := store.IssuanceHolder{ID: id}
	err := c.row(ctx, "SELECT issuer_id, info, started_at, expires_at FROM issuance_holders WHERE id = ?", id).
		Scan(&h.IssuerID, &h.Info, timeInto{&h.StartedAt}, timeInto{&h.ExpiresAt})
	if err != nil {
		return store.IssuanceHolder{}, c.errorf(err, "issuance holder %s", id)
	}
	return h, nil
}

func (t *tx) InsertHolder(ctx context.Context, h store.IssuanceHolder) error {
	_, err := t.exec(ctx, "INSERT INTO issuance_holders (id, issuer_id, info, started_at, expires_at) VALUES (?, ?, ?, ?, ?)",
		h.ID, h.IssuerID, h.Info, t.d.time(h.StartedAt), t.d.time(h.ExpiresAt))
	if err != nil {
		return t.insertErr(err, store.ErrExists, fmt.Errorf("issuer CA %s: %w", h.IssuerID, store.ErrNotFound),
			"insert issuance holder %s", h.ID)
	}
	return nil
}

func (t *tx) RenewHolder(ctx context.Context, id string, now, expiresAt time.Time) error {
	res, err := t.exec(ctx, "UPDATE issuance_holders SET expires_at = ? WHERE id = ? AND expires_at >= ?",
		t.d.time(expiresAt), id, t.d.time(now))
	if err != nil {
		return t.errorf(err, "renew issuance holder %s", id)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("%s: issuance holder %s is unknown or its lease ended: %w", t.d.Name, id, store.ErrNotFound)
	}
	return nil
}

// keyInUse tells a refusal by the live-key index from one by the
// live-request index.
func (t *tx) keyInUse(err error) bool {
	if t.d.Classify(err) != UniqueViolation || t.d.UniqueTarget == nil {
		return false
	}
	target := t.d.UniqueTarget(err)
	return target == liveKeyIndex || strings.Contains(target, liveKeyColumn)
}

func (t *tx) InsertIntent(ctx context.Context, in store.IssuanceIntent) error {
	hex, err := serialText(in.Serial)
	if err != nil {
		return err
	}
	holder := sql.NullString{String: in.HolderID, Valid: in.HolderID != ""}
	_, err = t.exec(ctx, "INSERT INTO issuance_intents ("+intentColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		in.IssuerID, hex, in.RequestID, in.Profile, in.SPKIHash, in.State, holder, in.RequestHash,
		t.d.time(in.CreatedAt), t.d.time(in.UpdatedAt))
	if err != nil {
		onUnique := fmt.Errorf("request %s already has a live intent: %w", in.RequestID, store.ErrExists)
		if t.keyInUse(err) {
			onUnique = store.ErrKeyInUse
		}
		return t.insertErr(err, onUnique, fmt.Errorf("serial not reserved or holder unknown: %w", store.ErrNotFound),
			"insert intent %s/%s", in.IssuerID, hex)
	}
	return nil
}

func (t *tx) SetIntentState(ctx context.Context, issuerID string, serial *big.Int, from, to string, at time.Time) error {
	hex, err := serialText(serial)
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, `UPDATE issuance_intents SET state = ?, updated_at = ?
		WHERE issuer_id = ? AND serial = ? AND state = ?`, to, t.d.time(at), issuerID, hex, from)
	if err != nil {
		onUnique := store.ErrExists
		if t.keyInUse(err) {
			onUnique = store.ErrKeyInUse
		}
		return t.insertErr(err, onUnique, store.ErrNotFound, "intent %s/%s %s→%s", issuerID, hex, from, to)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("%s: intent %s/%s is not %s: %w", t.d.Name, issuerID, hex, from, store.ErrNotFound)
	}
	return nil
}

// AbandonStaleIntent locks the intent, then its holder, and checks the lease
// under those locks: under PostgreSQL's READ COMMITTED a plain UPDATE … WHERE
// EXISTS could read a lease from before a renewal that commits while it runs;
// a renewal waits on the holder's row lock and then sees the lease it must
// not extend. SQLite needs no row locks (every transaction is IMMEDIATE).
func (t *tx) AbandonStaleIntent(ctx context.Context, issuerID string, serial *big.Int, now time.Time) error {
	hex, err := serialText(serial)
	if err != nil {
		return err
	}
	notStale := fmt.Errorf("%s: intent %s/%s is not pending with a holder gone: %w", t.d.Name, issuerID, hex, store.ErrNotFound)
	var holder sql.NullString
	err = t.row(ctx, `SELECT holder_id FROM issuance_intents
		WHERE issuer_id = ? AND serial = ? AND state = 'pending'`+t.d.ForUpdate, issuerID, hex).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return notStale
	}
	if err != nil {
		return t.errorf(err, "abandon intent %s/%s", issuerID, hex)
	}
	if holder.Valid {
		var one int
		err := t.row(ctx, "SELECT 1 FROM issuance_holders WHERE id = ? AND expires_at < ?"+t.d.ForUpdate,
			holder.String, t.d.time(now)).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return notStale
		}
		if err != nil {
			return t.errorf(err, "abandon intent %s/%s: holder %s", issuerID, hex, holder.String)
		}
	}
	if _, err := t.exec(ctx, `UPDATE issuance_intents SET state = 'abandoned', updated_at = ?
		WHERE issuer_id = ? AND serial = ?`, t.d.time(now), issuerID, hex); err != nil {
		return t.errorf(err, "abandon intent %s/%s", issuerID, hex)
	}
	return nil
}
