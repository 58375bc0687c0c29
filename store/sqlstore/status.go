package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/store"
)

// Status changes of certificates and their feed.
//
// Each change is one conditional UPDATE of the certificate's row, so the
// database decides which of several racing writers wins (PostgreSQL
// re-checks the WHERE clause against the row a concurrent writer committed;
// SQLite has one writer at a time). The loser's UPDATE changes no row and a
// read of the row says why. The winner then bumps the feed's counter, whose
// row it holds until it commits: sequence numbers are thus handed out in
// commit order, and a poller never reads seq n+1 while n is still to come.

func (t *tx) RevokeCertificate(ctx context.Context, r store.Revocation) (store.StatusChange, error) {
	hex, err := serialText(r.Serial)
	if err != nil {
		return store.StatusChange{}, err
	}
	if !store.ValidRevocationReason(r.Reason) {
		return store.StatusChange{}, fmt.Errorf("%s: revoke %s/%s: reason %d: %w", t.d.Name, r.IssuerID, hex, r.Reason, store.ErrBadReason)
	}
	at := t.d.time(r.At)
	res, err := t.exec(ctx, `UPDATE certificates SET status = 'revoked', revoked_at = COALESCE(revoked_at, ?),
		revocation_reason = ?, invalidity_date = ?
		WHERE issuer_id = ? AND serial = ? AND status IN ('valid', 'hold') AND not_after > ?`,
		at, r.Reason, t.d.nullTime(r.InvalidityDate), r.IssuerID, hex, at)
	return t.changed(ctx, "revoke", r.IssuerID, hex, r.At, res, err, func(status string, expired bool) error {
		if status == store.CertStatusRevoked {
			return store.ErrCertRevoked
		}
		if expired {
			return store.ErrCertExpired
		}
		return nil
	})
}

func (t *tx) SuspendCertificate(ctx context.Context, issuerID string, serial *big.Int, at time.Time) (store.StatusChange, error) {
	hex, err := serialText(serial)
	if err != nil {
		return store.StatusChange{}, err
	}
	a := t.d.time(at)
	res, err := t.exec(ctx, `UPDATE certificates SET status = 'hold', revoked_at = ?, revocation_reason = ?
		WHERE issuer_id = ? AND serial = ? AND status = 'valid' AND not_after > ?`,
		a, store.ReasonCertificateHold, issuerID, hex, a)
	return t.changed(ctx, "suspend", issuerID, hex, at, res, err, func(status string, expired bool) error {
		switch {
		case status == store.CertStatusRevoked:
			return store.ErrCertRevoked
		case status == store.CertStatusOnHold:
			return store.ErrCertOnHold
		case expired:
			return store.ErrCertExpired
		}
		return nil
	})
}

func (t *tx) ResumeCertificate(ctx context.Context, issuerID string, serial *big.Int, at time.Time) (store.StatusChange, error) {
	hex, err := serialText(serial)
	if err != nil {
		return store.StatusChange{}, err
	}
	res, err := t.exec(ctx, `UPDATE certificates SET status = 'valid', revoked_at = NULL, revocation_reason = NULL,
		invalidity_date = NULL WHERE issuer_id = ? AND serial = ? AND status = 'hold'`, issuerID, hex)
	return t.changed(ctx, "resume", issuerID, hex, at, res, err, func(status string, _ bool) error {
		if status == store.CertStatusRevoked {
			return store.ErrCertRevoked
		}
		return store.ErrCertNotOnHold
	})
}

func (t *tx) RevokeHold(ctx context.Context, issuerID string, serial *big.Int, reason int, heldBefore, at time.Time) (store.StatusChange, error) {
	hex, err := serialText(serial)
	if err != nil {
		return store.StatusChange{}, err
	}
	if !store.ValidRevocationReason(reason) {
		return store.StatusChange{}, fmt.Errorf("%s: revoke hold %s/%s: reason %d: %w", t.d.Name, issuerID, hex, reason, store.ErrBadReason)
	}
	res, err := t.exec(ctx, `UPDATE certificates SET status = 'revoked', revocation_reason = ?
		WHERE issuer_id = ? AND serial = ? AND status = 'hold' AND revoked_at < ?`, reason, issuerID, hex, t.d.time(heldBefore))
	return t.changed(ctx, "revoke hold", issuerID, hex, at, res, err, func(status string, _ bool) error {
		if status == store.CertStatusRevoked {
			return store.ErrCertRevoked
		}
		return store.ErrCertNotOnHold
	})
}

// changed finishes a status UPDATE: when it changed the row, it writes the
// feed row; when not, it reads the row and has refusal say why (status and
// whether notAfter is not after at); ErrNotFound when there is no row.
func (t *tx) changed(ctx context.Context, what, issuerID, hex string, at time.Time, res sql.Result, err error,
	refusal func(status string, expired bool) error) (store.StatusChange, error) {
	if err != nil {
		return store.StatusChange{}, t.errorf(err, "%s %s/%s", what, issuerID, hex)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return store.StatusChange{}, t.errorf(err, "%s %s/%s", what, issuerID, hex)
	}
	if n == 0 {
		var status string
		var notAfter time.Time
		err := t.row(ctx, `SELECT status, not_after FROM certificates WHERE issuer_id = ? AND serial = ?`, issuerID, hex).
			Scan(&status, timeInto{&notAfter})
		if err != nil {
			return store.StatusChange{}, t.errorf(err, "%s %s/%s", what, issuerID, hex)
		}
		why := refusal(status, !notAfter.After(at))
		if why == nil { // the row changed between the two statements: not possible under the row lock
			why = fmt.Errorf("certificate is %s", status)
		}
		return store.StatusChange{}, fmt.Errorf("%s: %s %s/%s: %w", t.d.Name, what, issuerID, hex, why)
	}
	if _, err := t.exec(ctx, `UPDATE cert_status_seq SET last_seq = last_seq + 1 WHERE id = 1`); err != nil {
		return store.StatusChange{}, t.errorf(err, "%s %s/%s: next feed number", what, issuerID, hex)
	}
	ch := store.StatusChange{IssuerID: issuerID, ChangedAt: at.UTC().Truncate(time.Microsecond)}
	var reason sql.NullInt64
	err = t.row(ctx, `SELECT s.last_seq, c.serial, c.status, c.revoked_at, c.revocation_reason, c.invalidity_date
		FROM cert_status_seq s, certificates c WHERE s.id = 1 AND c.issuer_id = ? AND c.serial = ?`, issuerID, hex).
		Scan(&ch.Seq, hexInto{&ch.Serial}, &ch.Status, nullTimeInto{&ch.RevokedAt}, &reason, nullTimeInto{&ch.InvalidityDate})
	if err != nil {
		return store.StatusChange{}, t.errorf(err, "%s %s/%s: read back", what, issuerID, hex)
	}
	if reason.Valid {
		v := int(reason.Int64)
		ch.RevocationReason = &v
	}
	_, err = t.exec(ctx, `INSERT INTO cert_status_changes (seq, issuer_id, serial, status, revoked_at, revocation_reason,
		invalidity_date, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ch.Seq, issuerID, hex, ch.Status,
		t.d.nullTime(ch.RevokedAt), reason, t.d.nullTime(ch.InvalidityDate), t.d.time(at))
	if err != nil {
		return store.StatusChange{}, t.errorf(err, "%s %s/%s: write feed row %d", what, issuerID, hex, ch.Seq)
	}
	return ch, nil
}

const statusChangeColumns = "seq, issuer_id, serial, status, revoked_at, revocation_reason, invalidity_date, changed_at"

func scanStatusChange(sc scanner) (store.StatusChange, error) {
	var ch store.StatusChange
	var reason sql.NullInt64
	err := sc.Scan(&ch.Seq, &ch.IssuerID, hexInto{&ch.Serial}, &ch.Status, nullTimeInto{&ch.RevokedAt}, &reason,
		nullTimeInto{&ch.InvalidityDate}, timeInto{&ch.ChangedAt})
	if reason.Valid {
		v := int(reason.Int64)
		ch.RevocationReason = &v
	}
	return ch, err
}

func (c conn) StatusChangesAfter(ctx context.Context, seq int64, limit int) ([]store.StatusChange, error) {
	if err := pageLimit(c.d, "status changes", limit); err != nil {
		return nil, err
	}
	return list(ctx, c, "status changes", scanStatusChange,
		"SELECT "+statusChangeColumns+" FROM cert_status_changes WHERE seq > ? ORDER BY seq LIMIT ?", seq, limit)
}

func (c conn) LatestStatusChangeSeq(ctx context.Context) (int64, error) {
	var n int64
	if err := c.row(ctx, "SELECT COALESCE(MAX(seq), 0) FROM cert_status_changes").Scan(&n); err != nil {
		return 0, c.errorf(err, "latest status change")
	}
	return n, nil
}

func (c conn) HoldsBefore(ctx context.Context, cutoff time.Time, limit int) ([]store.Certificate, error) {
	if err := pageLimit(c.d, "holds", limit); err != nil {
		return nil, err
	}
	return list(ctx, c, "holds", scanCert, "SELECT "+certColumns+
		" FROM certificates WHERE status = 'hold' AND revoked_at < ? ORDER BY revoked_at, issuer_id, serial LIMIT ?",
		c.d.time(cutoff), limit)
}
