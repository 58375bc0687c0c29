package store

import (
	"context"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/errkind"
)

// RFC 5280 CRLReason codes the center uses (7 is unused; removeFromCRL, 8,
// is never stored: a lifted hold simply leaves the next full CRL).
const (
	ReasonUnspecified          = 0
	ReasonKeyCompromise        = 1
	ReasonCACompromise         = 2
	ReasonAffiliationChanged   = 3
	ReasonSuperseded           = 4
	ReasonCessationOfOperation = 5
	ReasonCertificateHold      = 6
	ReasonPrivilegeWithdrawn   = 9
	ReasonAACompromise         = 10
)

// Errors of the status changes. Each is refused by a conditional update
// inside the transaction, so of several writers racing on one certificate
// (in any process) exactly one changes it and the others get one of these.
var (
	// ErrCertRevoked: the certificate is already revoked; a revocation is
	// final.
	ErrCertRevoked = errkind.New(errkind.Conflict, "store: certificate is already revoked")
	// ErrCertOnHold: the certificate is already on hold.
	ErrCertOnHold = errkind.New(errkind.Conflict, "store: certificate is already on hold")
	// ErrCertNotOnHold: only a hold can be lifted (or, by RevokeHold, made
	// final).
	ErrCertNotOnHold = errkind.New(errkind.Conflict, "store: certificate is not on hold")
	// ErrCertExpired: the certificate's notAfter has passed; revoking or
	// suspending it would tell nobody anything.
	ErrCertExpired = errkind.New(errkind.Conflict, "store: certificate has expired")
	// ErrBadReason: the reason code may not be stored for a revocation.
	ErrBadReason = errkind.New(errkind.Invalid, "store: revocation reason not allowed")
)

// Revocation is what RevokeCertificate records.
type Revocation struct {
	IssuerID string
	Serial   *big.Int
	Reason   int       // a Reason* code other than certificateHold
	At       time.Time // when it is done: the revocation time, unless the certificate was on hold
	// InvalidityDate, when set, is when the key is known or suspected to
	// have been compromised (or the certificate otherwise became invalid).
	InvalidityDate *time.Time
}

// StatusChange is one row of the status-change feed: the certificate's
// status (and revocation data) as the change left it.
type StatusChange struct {
	Seq              int64 // strictly increasing in commit order; gaps are possible
	IssuerID         string
	Serial           *big.Int
	Status           string // CertStatus*
	RevokedAt        *time.Time
	RevocationReason *int
	InvalidityDate   *time.Time
	ChangedAt        time.Time
}

// StatusReader reads the status-change feed and the holds.
type StatusReader interface {
	// StatusChangesAfter returns up to limit changes with Seq > seq, in
	// order. Sequence numbers are handed out in commit order (a writer holds
	// the counter until it commits), so a poller that remembers the last Seq
	// it read never misses a change; it must not assume they are gapless.
	StatusChangesAfter(ctx context.Context, seq int64, limit int) ([]StatusChange, error)
	// LatestStatusChangeSeq is the Seq of the newest change (0 when none):
	// a consumer reads it, then loads the certificates, then polls after it.
	LatestStatusChangeSeq(ctx context.Context) (int64, error)
	// HoldsBefore returns up to limit certificates on hold since before
	// cutoff (their RevokedAt), oldest first.
	HoldsBefore(ctx context.Context, cutoff time.Time, limit int) ([]Certificate, error)
}

// StatusWriter changes certificates' statuses. Each change writes its feed
// row in the same transaction. Within a transaction, change statuses before
// appending to the audit chain (the lock order every writer keeps: the
// certificate's row, the feed's counter, the chain).
type StatusWriter interface {
	// RevokeCertificate revokes a valid or held certificate. A held one
	// keeps its hold time as the revocation time (it has not been trusted
	// since). ErrNotFound, ErrCertRevoked, ErrCertExpired (notAfter not
	// after r.At), ErrBadReason.
	RevokeCertificate(ctx context.Context, r Revocation) (StatusChange, error)
	// SuspendCertificate puts a valid certificate on hold (reason
	// certificateHold, revocation time at). ErrNotFound, ErrCertRevoked,
	// ErrCertOnHold, ErrCertExpired.
	SuspendCertificate(ctx context.Context, issuerID string, serial *big.Int, at time.Time) (StatusChange, error)
	// ResumeCertificate lifts a hold. ErrNotFound, ErrCertRevoked,
	// ErrCertNotOnHold.
	ResumeCertificate(ctx context.Context, issuerID string, serial *big.Int, at time.Time) (StatusChange, error)
	// RevokeHold makes a hold that began before heldBefore a revocation with
	// the given reason, keeping the hold time, whether or not the
	// certificate has expired since. ErrNotFound, ErrCertRevoked,
	// ErrCertNotOnHold (not on hold, or held since heldBefore or later: a
	// hold lifted and set again is not overtaken), ErrBadReason.
	RevokeHold(ctx context.Context, issuerID string, serial *big.Int, reason int, heldBefore, at time.Time) (StatusChange, error)
}

// ValidRevocationReason reports whether code may be stored as the reason of
// a revocation (not certificateHold, which is a suspension, nor 7 or 8).
func ValidRevocationReason(code int) bool {
	switch code {
	case ReasonUnspecified, ReasonKeyCompromise, ReasonCACompromise, ReasonAffiliationChanged, ReasonSuperseded,
		ReasonCessationOfOperation, ReasonPrivilegeWithdrawn, ReasonAACompromise:
		return true
	}
	return false
}
