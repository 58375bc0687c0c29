package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/muhr-pki/muhr/store"
)

const intentColumns = "issuer_id, serial, request_id, profile, spki_sha256, state, holder_id, request_sha256, created_at, updated_at"

// intentColumnsOf is intentColumns qualified by a table alias, for joins.
func intentColumnsOf(alias string) string {
	return alias + "." + strings.ReplaceAll(intentColumns, ", ", ", "+alias+".")
}

// liveKeyIndex is the unique index on the live intents' public keys.
const liveKeyIndex = "issuance_intents_live_key"

func scanIntent(sc scanner) (store.IssuanceIntent, error) {
	var in store.IssuanceIntent
	var serial string
	var holder *string
	if err := sc.Scan(&in.IssuerID, &serial, &in.RequestID, &in.Profile, &in.SPKIHash, &in.State, &holder,
		&in.RequestHash, &in.CreatedAt, &in.UpdatedAt); err != nil {
		return store.IssuanceIntent{}, err
	}
	n, err := parseHex(serial)
	if err != nil {
		return store.IssuanceIntent{}, err
	}
	if holder != nil {
		in.HolderID = *holder
	}
	in.Serial, in.CreatedAt, in.UpdatedAt = n, in.CreatedAt.UTC(), in.UpdatedAt.UTC()
	return in, nil
}

func (r reader) intents(ctx context.Context, what, query string, args ...any) ([]store.IssuanceIntent, error) {
	rows, err := r.q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	defer rows.Close()
	var out []store.IssuanceIntent
	for rows.Next() {
		in, err := scanIntent(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: %s: %w", what, err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	return out, nil
}

func (r reader) intentsWhere(ctx context.Context, what, where string, args ...any) ([]store.IssuanceIntent, error) {
	return r.intents(ctx, what, "SELECT "+intentColumns+" FROM issuance_intents WHERE "+where+" ORDER BY created_at, serial", args...)
}

func (r reader) LiveIntent(ctx context.Context, requestID string) (store.IssuanceIntent, error) {
	in, err := scanIntent(r.q.QueryRow(ctx, "SELECT "+intentColumns+
		" FROM issuance_intents WHERE request_id = $1 AND state <> 'abandoned'", requestID))
	if err != nil {
		return store.IssuanceIntent{}, notFound(err, "postgres: live intent of request %s", requestID)
	}
	return in, nil
}

func (r reader) PendingIntents(ctx context.Context) ([]store.IssuanceIntent, error) {
	return r.intentsWhere(ctx, "pending intents", "state = 'pending'")
}

func (r reader) StaleIntents(ctx context.Context, issuerID string, now time.Time) ([]store.IssuanceIntent, error) {
	return r.intents(ctx, "stale intents", "SELECT "+intentColumnsOf("i")+` FROM issuance_intents i
		LEFT JOIN issuance_holders h ON h.id = i.holder_id
		WHERE i.issuer_id = $1 AND i.state = 'pending' AND (i.holder_id IS NULL OR h.expires_at < $2)
		ORDER BY i.created_at, i.serial`, issuerID, ts(now))
}

func (r reader) IntentsBySPKI(ctx context.Context, spkiHash []byte) ([]store.IssuanceIntent, error) {
	return r.intentsWhere(ctx, "intents by key", "spki_sha256 = $1 AND state <> 'abandoned'", spkiHash)
}

func (r reader) GetHolder(ctx context.Context, id string) (store.IssuanceHolder, error) {
	h := store.IssuanceHolder{ID: id}
	err := r.q.QueryRow(ctx, "SELECT issuer_id, info, started_at, expires_at FROM issuance_holders WHERE id = $1", id).
		Scan(&h.IssuerID, &h.Info, &h.StartedAt, &h.ExpiresAt)
	if err != nil {
		return store.IssuanceHolder{}, notFound(err, "postgres: issuance holder %s", id)
	}
	h.StartedAt, h.ExpiresAt = h.StartedAt.UTC(), h.ExpiresAt.UTC()
	return h, nil
}

func (t *tx) InsertHolder(ctx context.Context, h store.IssuanceHolder) error {
	_, err := t.t.Exec(ctx, "INSERT INTO issuance_holders (id, issuer_id, info, started_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
		h.ID, h.IssuerID, h.Info, ts(h.StartedAt), ts(h.ExpiresAt))
	if err != nil {
		return insertErr(err, store.ErrExists, fmt.Errorf("issuer CA %s: %w", h.IssuerID, store.ErrNotFound), "insert issuance holder %s", h.ID)
	}
	return nil
}

func (t *tx) RenewHolder(ctx context.Context, id string, now, expiresAt time.Time) error {
	tag, err := t.t.Exec(ctx, "UPDATE issuance_holders SET expires_at = $1 WHERE id = $2 AND expires_at >= $3",
		ts(expiresAt), id, ts(now))
	if err != nil {
		return fmt.Errorf("postgres: renew issuance holder %s: %w", id, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("postgres: issuance holder %s is unknown or its lease ended: %w", id, store.ErrNotFound)
	}
	return nil
}

// keyInUse tells a refusal by the live-key index from one by the
// live-request index.
func keyInUse(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == uniqueViolation && pe.ConstraintName == liveKeyIndex
}

func (t *tx) InsertIntent(ctx context.Context, in store.IssuanceIntent) error {
	hex, err := serialText(in.Serial)
	if err != nil {
		return err
	}
	var holder *string
	if in.HolderID != "" {
		holder = &in.HolderID
	}
	_, err = t.t.Exec(ctx, "INSERT INTO issuance_intents ("+intentColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		in.IssuerID, hex, in.RequestID, in.Profile, in.SPKIHash, in.State, holder, in.RequestHash, ts(in.CreatedAt), ts(in.UpdatedAt))
	if err != nil {
		onUnique := fmt.Errorf("request %s already has a live intent: %w", in.RequestID, store.ErrExists)
		if keyInUse(err) {
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
	tag, err := t.t.Exec(ctx, `UPDATE issuance_intents SET state = $1, updated_at = $2
		WHERE issuer_id = $3 AND serial = $4 AND state = $5`, to, ts(at), issuerID, hex, from)
	if err != nil {
		onUnique := store.ErrExists
		if keyInUse(err) {
			onUnique = store.ErrKeyInUse
		}
		return insertErr(err, onUnique, store.ErrNotFound, "intent %s/%s %s→%s", issuerID, hex, from, to)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("postgres: intent %s/%s is not %s: %w", issuerID, hex, from, store.ErrNotFound)
	}
	return nil
}

// AbandonStaleIntent locks the intent, then its holder, and checks the lease
// under those locks: under READ COMMITTED a plain UPDATE … WHERE EXISTS could
// read a lease from before a renewal that commits while it runs. A renewal
// waits on the holder's row lock and then sees the lease it must not extend.
func (t *tx) AbandonStaleIntent(ctx context.Context, issuerID string, serial *big.Int, now time.Time) error {
	hex, err := serialText(serial)
	if err != nil {
		return err
	}
	notStale := fmt.Errorf("postgres: intent %s/%s is not pending with a holder gone: %w", issuerID, hex, store.ErrNotFound)
	var holder *string
	err = t.t.QueryRow(ctx, `SELECT holder_id FROM issuance_intents
		WHERE issuer_id = $1 AND serial = $2 AND state = 'pending' FOR UPDATE`, issuerID, hex).Scan(&holder)
	if errors.Is(err, pgx.ErrNoRows) {
		return notStale
	}
	if err != nil {
		return fmt.Errorf("postgres: abandon intent %s/%s: %w", issuerID, hex, err)
	}
	if holder != nil {
		var one int
		err := t.t.QueryRow(ctx, "SELECT 1 FROM issuance_holders WHERE id = $1 AND expires_at < $2 FOR UPDATE", *holder, ts(now)).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return notStale
		}
		if err != nil {
			return fmt.Errorf("postgres: abandon intent %s/%s: holder %s: %w", issuerID, hex, *holder, err)
		}
	}
	if _, err := t.t.Exec(ctx, `UPDATE issuance_intents SET state = 'abandoned', updated_at = $1
		WHERE issuer_id = $2 AND serial = $3`, ts(now), issuerID, hex); err != nil {
		return fmt.Errorf("postgres: abandon intent %s/%s: %w", issuerID, hex, err)
	}
	return nil
}
