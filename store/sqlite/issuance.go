package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/muhr-pki/muhr/store"
)

const intentColumns = "issuer_id, serial, request_id, profile, spki_sha256, state, holder_id, request_sha256, created_at, updated_at"

// intentColumnsOf is intentColumns qualified by a table alias, for joins.
func intentColumnsOf(alias string) string {
	return alias + "." + strings.ReplaceAll(intentColumns, ", ", ", "+alias+".")
}

func scanIntent(sc scanner) (store.IssuanceIntent, error) {
	var in store.IssuanceIntent
	var serial string
	var holder sql.NullString
	var created, updated int64
	if err := sc.Scan(&in.IssuerID, &serial, &in.RequestID, &in.Profile, &in.SPKIHash, &in.State, &holder,
		&in.RequestHash, &created, &updated); err != nil {
		return store.IssuanceIntent{}, err
	}
	n, err := parseHex(serial)
	if err != nil {
		return store.IssuanceIntent{}, err
	}
	in.Serial, in.HolderID, in.CreatedAt, in.UpdatedAt = n, holder.String, fromMicros(created), fromMicros(updated)
	return in, nil
}

func (r reader) intents(ctx context.Context, what, query string, args ...any) ([]store.IssuanceIntent, error) {
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	defer rows.Close()
	var out []store.IssuanceIntent
	for rows.Next() {
		in, err := scanIntent(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", what, err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return out, nil
}

func (r reader) intentsWhere(ctx context.Context, what, where string, args ...any) ([]store.IssuanceIntent, error) {
	return r.intents(ctx, what, "SELECT "+intentColumns+" FROM issuance_intents WHERE "+where+" ORDER BY created_at, serial", args...)
}

func (r reader) LiveIntent(ctx context.Context, requestID string) (store.IssuanceIntent, error) {
	in, err := scanIntent(r.q.QueryRowContext(ctx, "SELECT "+intentColumns+
		" FROM issuance_intents WHERE request_id = ? AND state <> 'abandoned'", requestID))
	if err != nil {
		return store.IssuanceIntent{}, notFound(err, "sqlite: live intent of request %s", requestID)
	}
	return in, nil
}

func (r reader) PendingIntents(ctx context.Context) ([]store.IssuanceIntent, error) {
	return r.intentsWhere(ctx, "pending intents", "state = 'pending'")
}

// staleCondition is true for a pending intent (alias i) whose holder is
// gone: none recorded, or its lease ended before the time bound to ?.
const staleCondition = `i.state = 'pending' AND (i.holder_id IS NULL OR
	EXISTS (SELECT 1 FROM issuance_holders h WHERE h.id = i.holder_id AND h.expires_at < ?))`

func (r reader) StaleIntents(ctx context.Context, issuerID string, now time.Time) ([]store.IssuanceIntent, error) {
	return r.intents(ctx, "stale intents", "SELECT "+intentColumnsOf("i")+" FROM issuance_intents i WHERE i.issuer_id = ? AND "+
		staleCondition+" ORDER BY i.created_at, i.serial", issuerID, micros(now))
}

func (r reader) IntentsBySPKI(ctx context.Context, spkiHash []byte) ([]store.IssuanceIntent, error) {
	return r.intentsWhere(ctx, "intents by key", "spki_sha256 = ? AND state <> 'abandoned'", spkiHash)
}

func (r reader) GetHolder(ctx context.Context, id string) (store.IssuanceHolder, error) {
	h := store.IssuanceHolder{ID: id}
	var started, expires int64
	err := r.q.QueryRowContext(ctx, "SELECT issuer_id, info, started_at, expires_at FROM issuance_holders WHERE id = ?", id).
		Scan(&h.IssuerID, &h.Info, &started, &expires)
	if err != nil {
		return store.IssuanceHolder{}, notFound(err, "sqlite: issuance holder %s", id)
	}
	h.StartedAt, h.ExpiresAt = fromMicros(started), fromMicros(expires)
	return h, nil
}

func (t *tx) InsertHolder(ctx context.Context, h store.IssuanceHolder) error {
	_, err := t.t.ExecContext(ctx, "INSERT INTO issuance_holders (id, issuer_id, info, started_at, expires_at) VALUES (?, ?, ?, ?, ?)",
		h.ID, h.IssuerID, h.Info, micros(h.StartedAt), micros(h.ExpiresAt))
	if err != nil {
		return insertErr(err, store.ErrExists, fmt.Errorf("issuer CA %s: %w", h.IssuerID, store.ErrNotFound), "insert issuance holder %s", h.ID)
	}
	return nil
}

func (t *tx) RenewHolder(ctx context.Context, id string, now, expiresAt time.Time) error {
	res, err := t.t.ExecContext(ctx, "UPDATE issuance_holders SET expires_at = ? WHERE id = ? AND expires_at >= ?",
		micros(expiresAt), id, micros(now))
	if err != nil {
		return fmt.Errorf("sqlite: renew issuance holder %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("sqlite: issuance holder %s is unknown or its lease ended: %w", id, store.ErrNotFound)
	}
	return nil
}

func (t *tx) InsertIntent(ctx context.Context, in store.IssuanceIntent) error {
	hex, err := serialText(in.Serial)
	if err != nil {
		return err
	}
	var holder sql.NullString
	if in.HolderID != "" {
		holder = sql.NullString{String: in.HolderID, Valid: true}
	}
	_, err = t.t.ExecContext(ctx, "INSERT INTO issuance_intents ("+intentColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		in.IssuerID, hex, in.RequestID, in.Profile, in.SPKIHash, in.State, holder, in.RequestHash, micros(in.CreatedAt), micros(in.UpdatedAt))
	if err != nil {
		onUnique := fmt.Errorf("request %s already has a live intent: %w", in.RequestID, store.ErrExists)
		// SQLite names the columns of the unique index that refused the row.
		if strings.Contains(err.Error(), "issuance_intents.spki_sha256") {
			onUnique = store.ErrKeyInUse
		}
		return insertErr(err, onUnique, fmt.Errorf("serial not reserved or holder unknown: %w", store.ErrNotFound),
			"insert intent %s/%s", in.IssuerID, hex)
	}
	return nil
}

func (t *tx) SetIntentState(ctx context.Context, issuerID string, serial *big.Int, from, to string, at time.Time) error {
	hex, err := serialText(serial)
	if err != nil {
		return err
	}
	res, err := t.t.ExecContext(ctx, `UPDATE issuance_intents SET state = ?, updated_at = ?
		WHERE issuer_id = ? AND serial = ? AND state = ?`, to, micros(at), issuerID, hex, from)
	if err != nil {
		onUnique := store.ErrExists
		if strings.Contains(err.Error(), "issuance_intents.spki_sha256") {
			onUnique = store.ErrKeyInUse
		}
		return insertErr(err, onUnique, store.ErrNotFound, "intent %s/%s %s→%s", issuerID, hex, from, to)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("sqlite: intent %s/%s is not %s: %w", issuerID, hex, from, store.ErrNotFound)
	}
	return nil
}

// AbandonStaleIntent needs no lock: the transaction began IMMEDIATE, so no
// holder can renew between the check and the update.
func (t *tx) AbandonStaleIntent(ctx context.Context, issuerID string, serial *big.Int, now time.Time) error {
	hex, err := serialText(serial)
	if err != nil {
		return err
	}
	res, err := t.t.ExecContext(ctx, `UPDATE issuance_intents AS i SET state = 'abandoned', updated_at = ?
		WHERE i.issuer_id = ? AND i.serial = ? AND `+staleCondition, micros(now), issuerID, hex, micros(now))
	if err != nil {
		return fmt.Errorf("sqlite: abandon intent %s/%s: %w", issuerID, hex, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("sqlite: intent %s/%s is not pending with a holder gone: %w", issuerID, hex, store.ErrNotFound)
	}
	return nil
}
