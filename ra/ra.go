// Package ra is registration: officers and what each may do, subscribers
// and their identity evidence, certificate requests and their four-eyes
// approval, which triggers issuance through ca.Issuer. Every call names the
// officer who makes it, is authorized against the one table in roles.go and
// is audited with the officer as actor, in the transaction of its change.
// The HTTP edge is package ra/api; the officer row is read again on every
// request, so a deactivated officer is refused at once.
package ra

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
)

// Store is what registration needs from the database.
type Store interface {
	store.RAReader
	ListCAs(ctx context.Context) ([]store.CA, error)
	GetCertificate(ctx context.Context, issuerID string, serial *big.Int) (store.Certificate, error)
	AuditRecords(ctx context.Context, afterSeq int64, limit int) ([]store.AuditRecord, error)
	ReadSnapshot(ctx context.Context, fn func(ctx context.Context, r store.Reader) error) error
	InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error
}

// Tx is the transaction registration needs: its own rows and the audit
// chain (appended only through audit.Append).
type Tx interface {
	store.RAReader
	store.RAWriter
	audit.Chain
}

func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error {
	return s.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return fn(ctx, tx) })
}

// Issuer issues from one CA (*ca.Issuer). Approval issues with the
// request's id as the issuance request id, so however often and from
// however many processes a request is approved, it gets one certificate.
type Issuer interface {
	CA() *x509.Certificate
	Prepare(ctx context.Context, req ca.Request) (*ca.Prepared, error)
	IssueRequest(ctx context.Context, req ca.Request) (*x509.Certificate, error)
}

// Revoker changes certificate statuses (*ca.Revoker).
type Revoker interface {
	Revoke(ctx context.Context, issuerID string, serial *big.Int, reason ca.Reason, compromiseTime *time.Time, actor string) (store.StatusChange, error)
	Suspend(ctx context.Context, issuerID string, serial *big.Int, actor string) (store.StatusChange, error)
	Resume(ctx context.Context, issuerID string, serial *big.Int, actor string) (store.StatusChange, error)
}

// Defaults of Options.
const (
	DefaultDocumentVersion       = "1.0"
	DefaultPassphraseWindow      = 15 * time.Minute
	DefaultPassphraseMaxFailures = 5
)

// Options configure a Service.
type Options struct {
	Store Store
	// Issuers by CA id: the issuing CAs requests are issued from, and the
	// management CA officer certificates come from.
	Issuers map[string]Issuer
	Revoker Revoker // nil: revocation refused as unavailable
	Rules   policy.IdentifierRules
	Clock   func() time.Time
	Rand    io.Reader
	Log     *slog.Logger
	// EvidenceDir keeps scans of identity documents sent with a
	// registration (file_base64); "" keeps only their SHA-256.
	EvidenceDir string
	// AgreementVersion and PDSVersion are recorded when a registration
	// does not name the version accepted (DefaultDocumentVersion).
	AgreementVersion, PDSVersion string
	Argon                        ArgonParams
	// PassphraseWindow and PassphraseMaxFailures rate-limit suspension
	// by passphrase, per certificate.
	PassphraseWindow      time.Duration
	PassphraseMaxFailures int
}

// Service is registration.
type Service struct {
	o  Options
	st Store
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("ra: no store")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.AgreementVersion == "" {
		o.AgreementVersion = DefaultDocumentVersion
	}
	if o.PDSVersion == "" {
		o.PDSVersion = DefaultDocumentVersion
	}
	if o.Argon == (ArgonParams{}) {
		o.Argon = DefaultArgon()
	}
	if o.PassphraseWindow == 0 {
		o.PassphraseWindow = DefaultPassphraseWindow
	}
	if o.PassphraseMaxFailures == 0 {
		o.PassphraseMaxFailures = DefaultPassphraseMaxFailures
	}
	return &Service{o: o, st: o.Store}, nil
}

func (s *Service) now() time.Time { return s.o.Clock().UTC() }

// newID draws an id with a prefix ("s-", "r-", ...): 16 random hex digits.
func (s *Service) newID(prefix string) (string, error) {
	b := make([]byte, 8)
	if _, err := io.ReadFull(s.o.Rand, b); err != nil {
		return "", fmt.Errorf("ra: draw id: %w", err)
	}
	return prefix + hex.EncodeToString(b), nil
}

// Actor is how an officer is named in the audit log.
func Actor(o store.Officer) string { return "officer:" + o.Name }

// Fingerprint is the SHA-256 of a certificate's DER, lowercase hex: what
// an officer row holds.
func Fingerprint(der []byte) string {
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:])
}

// APIActor is the audit actor of refusals before any officer is known.
const APIActor = "muhrd:officer-api"

// Authenticate finds the active officer whose certificate this is (a
// fresh read, every request). An unknown or deactivated officer is
// refused and the refusal audited as officer.refused; remote is the
// client's address, for the record.
func (s *Service) Authenticate(ctx context.Context, cert *x509.Certificate, remote string) (store.Officer, error) {
	fp := Fingerprint(cert.Raw)
	o, err := s.st.OfficerByFingerprint(ctx, fp)
	reason := ""
	switch {
	case errors.Is(err, store.ErrNotFound):
		reason = "no officer holds this certificate"
	case err != nil:
		return store.Officer{}, fmt.Errorf("ra: look up officer: %w", err)
	case !o.Active:
		reason = "officer " + o.Name + " is deactivated"
	}
	if reason == "" {
		return o, nil
	}
	if aerr := s.Refused(ctx, cert, remote, reason); aerr != nil {
		return store.Officer{}, aerr
	}
	return store.Officer{}, &Error{Kind: errkind.Forbidden, Msg: "forbidden: " + reason, Err: ErrUnknownOfficer}
}

// Refused audits a refused client (officer.refused): a certificate that
// names no active officer, or (from the TLS layer) none at all.
func (s *Service) Refused(ctx context.Context, cert *x509.Certificate, remote, reason string) error {
	d := map[string]any{"reason": reason, "remote": remote}
	obj := "officer-api"
	if cert != nil {
		fp := Fingerprint(cert.Raw)
		d["fingerprint"], d["subject"] = fp, policy.SubjectString(cert.RawSubject)
		obj = "officer-cert/" + fp
	}
	return s.inTx(ctx, func(ctx context.Context, tx Tx) error {
		_, err := audit.Append(ctx, tx, s.now(), audit.Entry{Actor: APIActor, Action: "officer.refused", Object: obj, Details: d})
		return err
	})
}

// authorize checks action against the table; a refusal is audited
// (officer.forbidden) with the officer as actor.
func (s *Service) authorize(ctx context.Context, who store.Officer, action Action, object string) error {
	if who.Active && Allowed(who.Roles, action) {
		return nil
	}
	err := s.inTx(ctx, func(ctx context.Context, tx Tx) error {
		_, err := audit.Append(ctx, tx, s.now(), audit.Entry{Actor: Actor(who), Action: "officer.forbidden", Object: object,
			Details: map[string]any{"action": string(action), "roles": who.Roles, "needs": rolesFor(action)}})
		return err
	})
	if err != nil {
		return err
	}
	return forbidden("forbidden: %s may not %s (needs role %s; has %v)", who.Name, action, rolesFor(action), who.Roles)
}

// appendAudit appends one record in tx with the officer as actor.
func (s *Service) appendAudit(ctx context.Context, tx Tx, who string, action, object string, details any) error {
	_, err := audit.Append(ctx, tx, s.now(), audit.Entry{Actor: who, Action: action, Object: object, Details: details})
	return err
}

// OfficerView is an officer as the API shows it.
func OfficerView(o store.Officer) Officer {
	return Officer{ID: o.ID, Name: o.Name, Roles: o.Roles, Active: o.Active, Fingerprint: o.CertSHA256, CreatedAt: o.CreatedAt, CreatedBy: o.CreatedBy}
}

// Whoami is the calling officer.
func (s *Service) Whoami(ctx context.Context, who store.Officer) (Officer, error) {
	if err := s.authorize(ctx, who, ActWhoami, "officer/"+who.ID); err != nil {
		return Officer{}, err
	}
	return OfficerView(who), nil
}
