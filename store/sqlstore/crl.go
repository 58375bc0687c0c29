package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/store"
)

// The reads a CRL is made from. They use certificates_revoked_idx
// (migration 00009), a partial index of the non-valid rows, so a page costs
// the revoked certificates it returns, not the valid ones around them.

func (c conn) RevokedAfter(ctx context.Context, issuerID string, after *big.Int, limit int) ([]store.RevokedEntry, error) {
	if err := pageLimit(c.d, "revoked certificates", limit); err != nil {
		return nil, err
	}
	from := ""
	if after != nil {
		var err error
		if from, err = serialText(after); err != nil {
			return nil, err
		}
	}
	return list(ctx, c, "revoked certificates of "+issuerID, scanRevoked,
		`SELECT serial, status, revoked_at, revocation_reason, not_after, invalidity_date FROM certificates
		WHERE issuer_id = ? AND status <> 'valid' AND serial > ? ORDER BY serial LIMIT ?`, issuerID, from, limit)
}

func scanRevoked(sc scanner) (store.RevokedEntry, error) {
	var e store.RevokedEntry
	var reason sql.NullInt64
	var at *time.Time
	err := sc.Scan(hexInto{&e.Serial}, &e.Status, nullTimeInto{&at}, &reason, timeInto{&e.NotAfter}, nullTimeInto{&e.InvalidityDate})
	if err != nil {
		return e, err
	}
	if at == nil {
		// The schema's CHECK makes this impossible; say so rather than
		// list a revocation at the epoch.
		return e, fmt.Errorf("serial %x is %s without a revocation time", e.Serial, e.Status)
	}
	e.RevokedAt = *at
	if reason.Valid {
		v := int(reason.Int64)
		e.Reason = &v
	}
	return e, nil
}

func (c conn) RevocationState(ctx context.Context, issuerID string) (store.RevocationState, error) {
	var st store.RevocationState
	var latest *time.Time
	err := c.row(ctx, `SELECT COUNT(*), MAX(revoked_at) FROM certificates WHERE issuer_id = ? AND status <> 'valid'`, issuerID).
		Scan(&st.Count, nullTimeInto{&latest})
	if err != nil {
		return st, c.errorf(err, "revocation state of %s", issuerID)
	}
	if latest != nil {
		st.LatestAt = *latest
	}
	return st, nil
}

func (c conn) NextCRLNumber(ctx context.Context, issuerID string) (*big.Int, error) {
	crl, err := c.LatestCRL(ctx, issuerID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return big.NewInt(1), nil
	case err != nil:
		return nil, err
	}
	return new(big.Int).Add(crl.Number, big.NewInt(1)), nil
}
