package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/muhr-pki/muhr/store"
)

// Registration: officers, subscribers, evidence, certificate requests and
// passphrase attempts.

const officerColumns = "id, name, cert_sha256, cert_issuer_id, cert_serial, cert_der, roles, active, created_at, created_by, deactivated_at, deactivated_by"

func scanOfficer(sc scanner) (store.Officer, error) {
	var o store.Officer
	var issuer, serial, by sql.NullString
	var roles string
	var active int
	err := sc.Scan(&o.ID, &o.Name, &o.CertSHA256, &issuer, &serial, &o.CertDER, &roles, &active,
		timeInto{&o.CreatedAt}, &o.CreatedBy, nullTimeInto{&o.DeactivatedAt}, &by)
	if err != nil {
		return o, err
	}
	o.CertIssuerID, o.DeactivatedBy, o.Active = issuer.String, by.String, active == 1
	if serial.Valid {
		if err := (hexInto{&o.CertSerial}).Scan(serial.String); err != nil {
			return o, err
		}
	}
	o.Roles = strings.Split(roles, ",")
	return o, nil
}

func (c conn) GetOfficer(ctx context.Context, id string) (store.Officer, error) {
	o, err := scanOfficer(c.row(ctx, "SELECT "+officerColumns+" FROM officers WHERE id = ?", id))
	if err != nil {
		return store.Officer{}, c.errorf(err, "officer %s", id)
	}
	return o, nil
}

func (c conn) OfficerByFingerprint(ctx context.Context, fp string) (store.Officer, error) {
	o, err := scanOfficer(c.row(ctx, "SELECT "+officerColumns+" FROM officers WHERE cert_sha256 = ?", strings.ToLower(fp)))
	if err != nil {
		return store.Officer{}, c.errorf(err, "officer with certificate %s", fp)
	}
	return o, nil
}

func (c conn) ListOfficers(ctx context.Context) ([]store.Officer, error) {
	return list(ctx, c, "officers", scanOfficer, "SELECT "+officerColumns+" FROM officers ORDER BY name")
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullSerial(n *big.Int) (any, error) {
	if n == nil {
		return nil, nil
	}
	return serialText(n)
}

func (t *tx) InsertOfficer(ctx context.Context, o store.Officer) error {
	serial, err := nullSerial(o.CertSerial)
	if err != nil {
		return err
	}
	active := 0
	if o.Active {
		active = 1
	}
	_, err = t.exec(ctx, "INSERT INTO officers ("+officerColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		o.ID, o.Name, strings.ToLower(o.CertSHA256), nullStr(o.CertIssuerID), serial, o.CertDER, strings.Join(o.Roles, ","),
		active, t.d.time(o.CreatedAt), o.CreatedBy, t.d.nullTime(o.DeactivatedAt), nullStr(o.DeactivatedBy))
	if err != nil {
		return t.insertErr(err, store.ErrExists, store.ErrNotFound, "insert officer %s", o.Name)
	}
	return nil
}

// affected turns a conditional update's result into ErrNotFound (no row)
// or ErrStateChanged (a row in another state).
func (t *tx) affected(ctx context.Context, res sql.Result, err error, table, id, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %s %s: %w", t.d.Name, what, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %s %s: %w", t.d.Name, what, id, err)
	}
	if n == 1 {
		return nil
	}
	var one int
	if err := t.row(ctx, "SELECT 1 FROM "+table+" WHERE id = ?", id).Scan(&one); err != nil {
		return t.errorf(err, "%s %s", what, id)
	}
	return fmt.Errorf("%s: %s %s: %w", t.d.Name, what, id, store.ErrStateChanged)
}

func (t *tx) DeactivateOfficer(ctx context.Context, id, by string, at time.Time) error {
	res, err := t.exec(ctx, "UPDATE officers SET active = 0, deactivated_at = ?, deactivated_by = ? WHERE id = ? AND active = 1",
		t.d.time(at), by, id)
	return t.affected(ctx, res, err, "officers", id, "deactivate officer")
}

const subscriberColumns = "id, kind, surname, given_name, patronymic, personal_number, org_name, registration_number, tax_number, " +
	"representative_id, country, email, phone, passphrase_hash, agreement_version, agreement_at, pds_version, pds_at, created_at, created_by"

func scanSubscriber(sc scanner) (store.Subscriber, error) {
	var s store.Subscriber
	var f [12]sql.NullString
	err := sc.Scan(&s.ID, &s.Kind, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &s.Country, &f[8], &f[9], &f[10],
		&s.AgreementVersion, timeInto{&s.AgreementAt}, &s.PDSVersion, timeInto{&s.PDSAt}, timeInto{&s.CreatedAt}, &s.CreatedBy)
	s.Surname, s.GivenName, s.Patronymic, s.PersonalNumber = f[0].String, f[1].String, f[2].String, f[3].String
	s.OrgName, s.RegistrationNumber, s.TaxNumber, s.RepresentativeID = f[4].String, f[5].String, f[6].String, f[7].String
	s.Email, s.Phone, s.PassphraseHash = f[8].String, f[9].String, f[10].String
	return s, err
}

func (c conn) GetSubscriber(ctx context.Context, id string) (store.Subscriber, error) {
	s, err := scanSubscriber(c.row(ctx, "SELECT "+subscriberColumns+" FROM subscribers WHERE id = ?", id))
	if err != nil {
		return store.Subscriber{}, c.errorf(err, "subscriber %s", id)
	}
	return s, nil
}

// likeEscape makes text match itself only in LIKE … ESCAPE '\'.
func likeEscape(text string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(text)
}

func (c conn) SearchSubscribers(ctx context.Context, text string, limit int) ([]store.Subscriber, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	return list(ctx, c, "search subscribers", scanSubscriber, "SELECT "+subscriberColumns+
		` FROM subscribers WHERE search_text LIKE ? ESCAPE '\' ORDER BY created_at, id LIMIT ?`,
		"%"+likeEscape(strings.ToLower(text))+"%", limit)
}

func (t *tx) InsertSubscriber(ctx context.Context, s store.Subscriber, search string) error {
	_, err := t.exec(ctx, "INSERT INTO subscribers ("+subscriberColumns+", search_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		s.ID, s.Kind, nullStr(s.Surname), nullStr(s.GivenName), nullStr(s.Patronymic), nullStr(s.PersonalNumber),
		nullStr(s.OrgName), nullStr(s.RegistrationNumber), nullStr(s.TaxNumber), nullStr(s.RepresentativeID), s.Country,
		nullStr(s.Email), nullStr(s.Phone), nullStr(s.PassphraseHash), s.AgreementVersion, t.d.time(s.AgreementAt),
		s.PDSVersion, t.d.time(s.PDSAt), t.d.time(s.CreatedAt), s.CreatedBy, strings.ToLower(search))
	if err != nil {
		return t.insertErr(err, store.ErrExists, store.ErrNotFound, "insert subscriber %s", s.ID)
	}
	return nil
}

const evidenceColumns = "id, subscriber_id, doc_type, doc_number, file_sha256, file_name, stored_path, recorded_at, recorded_by"

func scanEvidence(sc scanner) (store.Evidence, error) {
	var e store.Evidence
	var f [3]sql.NullString
	err := sc.Scan(&e.ID, &e.SubscriberID, &e.Type, &e.Number, &f[0], &f[1], &f[2], timeInto{&e.RecordedAt}, &e.RecordedBy)
	e.FileSHA256, e.FileName, e.StoredPath = f[0].String, f[1].String, f[2].String
	return e, err
}

func (c conn) ListEvidence(ctx context.Context, subscriberID string) ([]store.Evidence, error) {
	return list(ctx, c, "evidence", scanEvidence, "SELECT "+evidenceColumns+
		" FROM identity_evidence WHERE subscriber_id = ? ORDER BY recorded_at, id", subscriberID)
}

func (t *tx) InsertEvidence(ctx context.Context, e store.Evidence) error {
	_, err := t.exec(ctx, "INSERT INTO identity_evidence ("+evidenceColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		e.ID, e.SubscriberID, e.Type, e.Number, nullStr(e.FileSHA256), nullStr(e.FileName), nullStr(e.StoredPath),
		t.d.time(e.RecordedAt), e.RecordedBy)
	if err != nil {
		return t.insertErr(err, store.ErrExists, store.ErrNotFound, "insert evidence of %s", e.SubscriberID)
	}
	return nil
}

const requestColumns = "id, subscriber_id, profile, kind, renews_issuer_id, renews_serial, csr_der, dns_names, qscd, qscd_evidence, " +
	"ca_id, status, reason, submitted_by, submitted_at, decided_by, decided_at, issuer_id, serial, updated_at"

func scanRequest(sc scanner) (store.CertRequest, error) {
	var r store.CertRequest
	var renewsIssuer, renewsSerial, evidence, decidedBy, issuer, serial sql.NullString
	var dns string
	var qscd int
	err := sc.Scan(&r.ID, &r.SubscriberID, &r.Profile, &r.Kind, &renewsIssuer, &renewsSerial, &r.CSRDER, &dns, &qscd, &evidence,
		&r.CAID, &r.Status, &r.Reason, &r.SubmittedBy, timeInto{&r.SubmittedAt}, &decidedBy, nullTimeInto{&r.DecidedAt},
		&issuer, &serial, timeInto{&r.UpdatedAt})
	if err != nil {
		return r, err
	}
	r.RenewsIssuerID, r.DecidedBy, r.IssuerID, r.QSCD = renewsIssuer.String, decidedBy.String, issuer.String, qscd == 1
	if evidence.Valid {
		r.QSCDEvidence = []byte(evidence.String)
	}
	if err := json.Unmarshal([]byte(dns), &r.DNSNames); err != nil {
		return r, fmt.Errorf("store: dns_names of request %s: %w", r.ID, err)
	}
	for _, p := range []struct {
		s   sql.NullString
		dst **big.Int
	}{{renewsSerial, &r.RenewsSerial}, {serial, &r.Serial}} {
		if p.s.Valid {
			if err := (hexInto{p.dst}).Scan(p.s.String); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}

func (c conn) GetRequest(ctx context.Context, id string) (store.CertRequest, error) {
	r, err := scanRequest(c.row(ctx, "SELECT "+requestColumns+" FROM cert_requests WHERE id = ?", id))
	if err != nil {
		return store.CertRequest{}, c.errorf(err, "request %s", id)
	}
	return r, nil
}

func (c conn) ListRequests(ctx context.Context, f store.RequestFilter) ([]store.CertRequest, error) {
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	var where []string
	var args []any
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.SubscriberID != "" {
		where, args = append(where, "subscriber_id = ?"), append(args, f.SubscriberID)
	}
	q := "SELECT " + requestColumns + " FROM cert_requests"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return list(ctx, c, "requests", scanRequest, q+" ORDER BY submitted_at, id LIMIT ?", append(args, limit)...)
}

func (c conn) RequestByCertificate(ctx context.Context, issuerID string, serial *big.Int) (store.CertRequest, error) {
	hex, err := serialText(serial)
	if err != nil {
		return store.CertRequest{}, err
	}
	r, err := scanRequest(c.row(ctx, "SELECT "+requestColumns+" FROM cert_requests WHERE issuer_id = ? AND serial = ?", issuerID, hex))
	if err != nil {
		return store.CertRequest{}, c.errorf(err, "request of certificate %s/%s", issuerID, hex)
	}
	return r, nil
}

func (c conn) CertificatesBySerial(ctx context.Context, serial *big.Int) ([]store.Certificate, error) {
	hex, err := serialText(serial)
	if err != nil {
		return nil, err
	}
	return list(ctx, c, "certificates by serial", scanCert, "SELECT "+certColumns+" FROM certificates WHERE serial = ? ORDER BY issuer_id", hex)
}

func (t *tx) InsertRequest(ctx context.Context, r store.CertRequest) error {
	renews, err := nullSerial(r.RenewsSerial)
	if err != nil {
		return err
	}
	dns := r.DNSNames
	if dns == nil {
		dns = []string{}
	}
	dnsJSON, err := json.Marshal(dns)
	if err != nil {
		return err
	}
	var evidence any
	if r.QSCDEvidence != nil {
		evidence = string(r.QSCDEvidence)
	}
	qscd := 0
	if r.QSCD {
		qscd = 1
	}
	_, err = t.exec(ctx, "INSERT INTO cert_requests (id, subscriber_id, profile, kind, renews_issuer_id, renews_serial, csr_der, "+
		"dns_names, qscd, qscd_evidence, ca_id, status, reason, submitted_by, submitted_at, updated_at) "+
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', '', ?, ?, ?)",
		r.ID, r.SubscriberID, r.Profile, r.Kind, nullStr(r.RenewsIssuerID), renews, r.CSRDER, string(dnsJSON), qscd, evidence,
		r.CAID, r.SubmittedBy, t.d.time(r.SubmittedAt), t.d.time(r.SubmittedAt))
	if err != nil {
		return t.insertErr(err, store.ErrExists, store.ErrNotFound, "insert request %s", r.ID)
	}
	return nil
}

func (t *tx) ClaimRequest(ctx context.Context, id, by string, at time.Time) error {
	a := t.d.time(at)
	res, err := t.exec(ctx, `UPDATE cert_requests SET status = 'pending', reason = '', decided_by = ?, decided_at = ?, updated_at = ?
		WHERE id = ? AND ((status = 'pending' AND decided_by IS NULL) OR status = 'failed') AND submitted_by <> ?`,
		by, a, a, id, by)
	return t.affected(ctx, res, err, "cert_requests", id, "approve request")
}

func (t *tx) RejectRequest(ctx context.Context, id, by, reason string, at time.Time) error {
	a := t.d.time(at)
	res, err := t.exec(ctx, `UPDATE cert_requests SET status = 'rejected', reason = ?, decided_by = ?, decided_at = ?, updated_at = ?
		WHERE id = ? AND ((status = 'pending' AND decided_by IS NULL) OR status = 'failed') AND submitted_by <> ?`,
		reason, by, a, a, id, by)
	return t.affected(ctx, res, err, "cert_requests", id, "reject request")
}

func (t *tx) FailRequest(ctx context.Context, id, reason string, at time.Time) error {
	res, err := t.exec(ctx, `UPDATE cert_requests SET status = 'failed', reason = ?, updated_at = ?
		WHERE id = ? AND status = 'pending' AND decided_by IS NOT NULL`, reason, t.d.time(at), id)
	return t.affected(ctx, res, err, "cert_requests", id, "fail request")
}

func (t *tx) IssueRequest(ctx context.Context, id, issuerID string, serial *big.Int, at time.Time) error {
	hex, err := serialText(serial)
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, `UPDATE cert_requests SET status = 'issued', reason = '', issuer_id = ?, serial = ?, updated_at = ?
		WHERE id = ? AND status IN ('pending', 'failed') AND decided_by IS NOT NULL`, issuerID, hex, t.d.time(at), id)
	if err != nil && t.d.Classify(err) == UniqueViolation {
		return fmt.Errorf("%s: issue request %s: certificate %s/%s belongs to another request: %w", t.d.Name, id, issuerID, hex, store.ErrExists)
	}
	return t.affected(ctx, res, err, "cert_requests", id, "issue request")
}

func (c conn) PassphraseFailures(ctx context.Context, issuerID string, serial *big.Int, since time.Time) (int, error) {
	hex, err := serialText(serial)
	if err != nil {
		return 0, err
	}
	var n int
	if err := c.row(ctx, "SELECT COUNT(*) FROM passphrase_attempts WHERE issuer_id = ? AND serial = ? AND ok = 0 AND attempted_at >= ?",
		issuerID, hex, c.d.time(since)).Scan(&n); err != nil {
		return 0, c.errorf(err, "passphrase attempts on %s/%s", issuerID, hex)
	}
	return n, nil
}

func (t *tx) InsertPassphraseAttempt(ctx context.Context, issuerID string, serial *big.Int, officer string, ok bool, at time.Time) error {
	hex, err := serialText(serial)
	if err != nil {
		return err
	}
	v := 0
	if ok {
		v = 1
	}
	if _, err := t.exec(ctx, "INSERT INTO passphrase_attempts (issuer_id, serial, officer, attempted_at, ok) VALUES (?, ?, ?, ?, ?)",
		issuerID, hex, officer, t.d.time(at), v); err != nil {
		return t.insertErr(err, store.ErrExists, store.ErrNotFound, "passphrase attempt on %s/%s", issuerID, hex)
	}
	return nil
}

func (t *tx) LockCertificate(ctx context.Context, issuerID string, serial *big.Int) error {
	hex, err := serialText(serial)
	if err != nil {
		return err
	}
	var one int
	if err := t.row(ctx, "SELECT 1 FROM certificates WHERE issuer_id = ? AND serial = ?"+t.d.ForUpdate, issuerID, hex).Scan(&one); err != nil {
		return t.errorf(err, "lock certificate %s/%s", issuerID, hex)
	}
	return nil
}

func (c conn) LatestListenerCert(ctx context.Context, name string) (store.ListenerCert, error) {
	l := store.ListenerCert{Name: name}
	err := c.row(ctx, "SELECT issuer_id, serial, key_label, not_after FROM listener_certs WHERE name = ? ORDER BY not_after DESC LIMIT 1", name).
		Scan(&l.IssuerID, hexInto{&l.Serial}, &l.KeyLabel, timeInto{&l.NotAfter})
	if err != nil {
		return store.ListenerCert{}, c.errorf(err, "listener certificate %s", name)
	}
	return l, nil
}

func (t *tx) InsertListenerCert(ctx context.Context, l store.ListenerCert) error {
	hex, err := serialText(l.Serial)
	if err != nil {
		return err
	}
	if _, err := t.exec(ctx, "INSERT INTO listener_certs (name, issuer_id, serial, key_label, not_after) VALUES (?, ?, ?, ?, ?)",
		l.Name, l.IssuerID, hex, l.KeyLabel, t.d.time(l.NotAfter)); err != nil {
		return t.insertErr(err, store.ErrExists, store.ErrNotFound, "insert listener certificate %s", l.Name)
	}
	return nil
}
