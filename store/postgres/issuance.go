package postgres

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/store"
)

const intentColumns = "issuer_id, serial, request_id, profile, spki_sha256, state, created_at, updated_at"

func scanIntent(sc scanner) (store.IssuanceIntent, error) {
	var in store.IssuanceIntent
	var serial string
	if err := sc.Scan(&in.IssuerID, &serial, &in.RequestID, &in.Profile, &in.SPKIHash, &in.State, &in.CreatedAt, &in.UpdatedAt); err != nil {
		return store.IssuanceIntent{}, err
	}
	n, err := parseHex(serial)
	if err != nil {
		return store.IssuanceIntent{}, err
	}
	in.Serial, in.CreatedAt, in.UpdatedAt = n, in.CreatedAt.UTC(), in.UpdatedAt.UTC()
	return in, nil
}

func (r reader) intents(ctx context.Context, what, where string, args ...any) ([]store.IssuanceIntent, error) {
	rows, err := r.q.Query(ctx, "SELECT "+intentColumns+" FROM issuance_intents WHERE "+where+" ORDER BY created_at, serial", args...)
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

func (r reader) LiveIntent(ctx context.Context, requestID string) (store.IssuanceIntent, error) {
	in, err := scanIntent(r.q.QueryRow(ctx, "SELECT "+intentColumns+
		" FROM issuance_intents WHERE request_id = $1 AND state <> 'abandoned'", requestID))
	if err != nil {
		return store.IssuanceIntent{}, notFound(err, "postgres: live intent of request %s", requestID)
	}
	return in, nil
}

func (r reader) PendingIntents(ctx context.Context) ([]store.IssuanceIntent, error) {
	return r.intents(ctx, "pending intents", "state = 'pending'")
}

func (r reader) IntentsBySPKI(ctx context.Context, spkiHash []byte) ([]store.IssuanceIntent, error) {
	return r.intents(ctx, "intents by key", "spki_sha256 = $1 AND state <> 'abandoned'", spkiHash)
}

func (t *tx) InsertIntent(ctx context.Context, in store.IssuanceIntent) error {
	hex, err := serialText(in.Serial)
	if err != nil {
		return err
	}
	_, err = t.t.Exec(ctx, "INSERT INTO issuance_intents ("+intentColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		in.IssuerID, hex, in.RequestID, in.Profile, in.SPKIHash, in.State, ts(in.CreatedAt), ts(in.UpdatedAt))
	if err != nil {
		return insertErr(err, fmt.Errorf("request %s already has a live intent: %w", in.RequestID, store.ErrExists),
			fmt.Errorf("serial not reserved: %w", store.ErrNotFound), "insert intent %s/%s", in.IssuerID, hex)
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
		return insertErr(err, store.ErrExists, store.ErrNotFound, "intent %s/%s %s→%s", issuerID, hex, from, to)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("postgres: intent %s/%s is not %s: %w", issuerID, hex, from, store.ErrNotFound)
	}
	return nil
}
