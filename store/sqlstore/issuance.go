package sqlstore

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/store"
)

// Issuance intents.

const intentColumns = "issuer_id, serial, request_id, profile, spki_sha256, state, created_at, updated_at"

func scanIntent(sc scanner) (store.IssuanceIntent, error) {
	var in store.IssuanceIntent
	err := sc.Scan(&in.IssuerID, hexInto{&in.Serial}, &in.RequestID, &in.Profile, &in.SPKIHash, &in.State,
		timeInto{&in.CreatedAt}, timeInto{&in.UpdatedAt})
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

func (c conn) IntentsBySPKI(ctx context.Context, spkiHash []byte) ([]store.IssuanceIntent, error) {
	return c.intents(ctx, "intents by key", "spki_sha256 = ? AND state <> 'abandoned'", spkiHash)
}

func (t *tx) InsertIntent(ctx context.Context, in store.IssuanceIntent) error {
	hex, err := serialText(in.Serial)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, "INSERT INTO issuance_intents ("+intentColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		in.IssuerID, hex, in.RequestID, in.Profile, in.SPKIHash, in.State, t.d.time(in.CreatedAt), t.d.time(in.UpdatedAt))
	if err != nil {
		return t.insertErr(err, fmt.Errorf("request %s already has a live intent: %w", in.RequestID, store.ErrExists),
			fmt.Errorf("serial not reserved: %w", store.ErrNotFound), "insert intent %s/%s", in.IssuerID, hex)
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
		return t.insertErr(err, store.ErrExists, store.ErrNotFound, "intent %s/%s %s→%s", issuerID, hex, from, to)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("%s: intent %s/%s is not %s: %w", t.d.Name, issuerID, hex, from, store.ErrNotFound)
	}
	return nil
}
