package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"

	"github.com/muhr-pki/muhr/store"
)

// CAs, certificates, CRLs and delegated signers.

const caColumns = "id, kind, COALESCE(parent_id, ''), key_label, cert_der, status, created_at"

func scanCA(sc scanner) (store.CA, error) {
	var ca store.CA
	err := sc.Scan(&ca.ID, &ca.Kind, &ca.ParentID, &ca.KeyLabel, &ca.CertDER, &ca.Status, timeInto{&ca.CreatedAt})
	return ca, err
}

func (c conn) GetCA(ctx context.Context, id string) (store.CA, error) {
	ca, err := scanCA(c.row(ctx, "SELECT "+caColumns+" FROM cas WHERE id = ?", id))
	if err != nil {
		return store.CA{}, c.errorf(err, "CA %s", id)
	}
	return ca, nil
}

func (c conn) ListCAs(ctx context.Context) ([]store.CA, error) {
	return list(ctx, c, "list CAs", scanCA, "SELECT "+caColumns+" FROM cas ORDER BY created_at, id")
}

func (t *tx) InsertCA(ctx context.Context, ca store.CA) error {
	var parent sql.NullString
	if ca.ParentID != "" {
		parent = sql.NullString{String: ca.ParentID, Valid: true}
	}
	_, err := t.exec(ctx, `INSERT INTO cas (id, kind, parent_id, key_label, cert_der, status, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, ca.ID, ca.Kind, parent, ca.KeyLabel, ca.CertDER, ca.Status, t.d.time(ca.CreatedAt))
	if err != nil {
		return t.insertErr(err, store.ErrExists, fmt.Errorf("parent CA %s: %w", ca.ParentID, store.ErrNotFound), "insert CA %s", ca.ID)
	}
	return nil
}

func (t *tx) ReserveSerial(ctx context.Context, r store.SerialReservation) error {
	hex, err := serialText(r.Serial)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO serial_reservations (issuer_id, serial, purpose, reserved_at)
		VALUES (?, ?, ?, ?)`, r.IssuerID, hex, r.Purpose, t.d.time(r.ReservedAt))
	if err != nil {
		return t.insertErr(err, store.ErrDuplicateSerial, fmt.Errorf("issuer CA %s: %w", r.IssuerID, store.ErrNotFound),
			"reserve serial %s/%s", r.IssuerID, hex)
	}
	return nil
}

func (c conn) GetCertificate(ctx context.Context, issuerID string, serial *big.Int) (store.Certificate, error) {
	hex, err := serialText(serial)
	if err != nil {
		return store.Certificate{}, err
	}
	cert, err := scanCert(c.row(ctx, "SELECT "+certColumns+" FROM certificates WHERE issuer_id = ? AND serial = ?", issuerID, hex))
	if err != nil {
		return store.Certificate{}, c.errorf(err, "certificate %s/%s", issuerID, hex)
	}
	return cert, nil
}

func (t *tx) InsertCertificate(ctx context.Context, c store.Certificate) error {
	hex, err := serialText(c.Serial)
	if err != nil {
		return err
	}
	var reason sql.NullInt64
	if c.RevocationReason != nil {
		reason = sql.NullInt64{Int64: int64(*c.RevocationReason), Valid: true}
	}
	_, err = t.exec(ctx, `INSERT INTO certificates (issuer_id, serial, subject, profile, not_before,
		not_after, der, status, revoked_at, revocation_reason, invalidity_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.IssuerID, hex, c.Subject, c.Profile, t.d.time(c.NotBefore), t.d.time(c.NotAfter), c.DER, c.Status,
		t.d.nullTime(c.RevokedAt), reason, t.d.nullTime(c.InvalidityDate))
	if err != nil {
		return t.insertErr(err, store.ErrDuplicateSerial, fmt.Errorf("no reservation of that serial: %w", store.ErrNotFound),
			"insert certificate %s/%s", c.IssuerID, hex)
	}
	return nil
}

func (c conn) LatestCRL(ctx context.Context, issuerID string) (store.CRL, error) {
	crl := store.CRL{IssuerID: issuerID}
	err := c.row(ctx, `SELECT number, this_update, next_update, der FROM crls
		WHERE issuer_id = ? ORDER BY number DESC LIMIT 1`, issuerID).
		Scan(hexInto{&crl.Number}, timeInto{&crl.ThisUpdate}, timeInto{&crl.NextUpdate}, &crl.DER)
	if err != nil {
		return store.CRL{}, c.errorf(err, "latest CRL of %s", issuerID)
	}
	return crl, nil
}

func (t *tx) InsertCRL(ctx context.Context, c store.CRL) error {
	num, err := crlNumberText(c.Number)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO crls (issuer_id, number, this_update, next_update, der)
		VALUES (?, ?, ?, ?, ?)`, c.IssuerID, num, t.d.time(c.ThisUpdate), t.d.time(c.NextUpdate), c.DER)
	if err != nil {
		return t.insertErr(err, store.ErrExists, fmt.Errorf("issuer CA %s: %w", c.IssuerID, store.ErrNotFound),
			"insert CRL %s #%v", c.IssuerID, c.Number)
	}
	return nil
}

func (c conn) LatestSigner(ctx context.Context, role, caID string) (store.Signer, error) {
	s := store.Signer{Role: role, CAID: caID}
	err := c.row(ctx, `SELECT serial, key_label, cert_der, not_after FROM signers
		WHERE role = ? AND ca_id = ? ORDER BY not_after DESC, serial DESC LIMIT 1`, role, caID).
		Scan(hexInto{&s.Serial}, &s.KeyLabel, &s.CertDER, timeInto{&s.NotAfter})
	if err != nil {
		return store.Signer{}, c.errorf(err, "%s signer of %s", role, caID)
	}
	return s, nil
}

func (t *tx) InsertSigner(ctx context.Context, s store.Signer) error {
	hex, err := serialText(s.Serial)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO signers (role, ca_id, serial, key_label, cert_der, not_after)
		VALUES (?, ?, ?, ?, ?, ?)`, s.Role, s.CAID, hex, s.KeyLabel, s.CertDER, t.d.time(s.NotAfter))
	if err != nil {
		return t.insertErr(err, store.ErrExists, fmt.Errorf("no stored certificate with that serial: %w", store.ErrNotFound),
			"insert %s signer %s/%s", s.Role, s.CAID, hex)
	}
	return nil
}
