package ca

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/store"
)

// Errors the revoker's callers branch on. Each refusal changes nothing.
var (
	ErrUnknownCA = errkind.New(errkind.NotFound, "revoker: no such CA")
	// ErrUnknownCertificate: no certificate with that serial is stored
	// (never issued, or only reserved: a burned serial).
	ErrUnknownCertificate = errkind.New(errkind.NotFound, "revoker: no such certificate")
	ErrAlreadyRevoked     = errkind.New(errkind.Conflict, "revoker: certificate is already revoked, and a revocation is final")
	ErrAlreadyOnHold      = errkind.New(errkind.Conflict, "revoker: certificate is already on hold")
	ErrNotOnHold          = errkind.New(errkind.Conflict, "revoker: certificate is not on hold, and only a hold can be lifted")
	// ErrExpired: the certificate's notAfter has passed; its status stays
	// what it was.
	ErrExpired = errkind.New(errkind.Conflict, "revoker: certificate has expired")
	// ErrReason: the reason is not one an officer may give (a suspension
	// is Suspend, not a reason).
	ErrReason = errkind.New(errkind.Invalid, "revoker: revocation reason refused")
	// ErrCompromiseTime: the compromise time is in the future. (One before
	// notBefore is kept: a key may be compromised before it is certified.)
	ErrCompromiseTime = errkind.New(errkind.Invalid, "revoker: compromise time refused")
	// ErrHoldExpired: Resume found a hold older than the maximum; it made
	// it the revocation the expiry job would have made (committed, audited)
	// instead of lifting it.
	ErrHoldExpired = errkind.New(errkind.Conflict, "revoker: the hold is older than the maximum hold and is now a revocation")
	// ErrRevokeRequest: a missing actor, serial or CA id.
	ErrRevokeRequest = errkind.New(errkind.Invalid, "revoker: request refused")
)

// Reason is an RFC 5280 CRLReason an officer may give for a revocation.
type Reason int

// The reasons officers give (RFC 5280 §5.3.1 codes).
const (
	ReasonUnspecified          Reason = store.ReasonUnspecified
	ReasonKeyCompromise        Reason = store.ReasonKeyCompromise
	ReasonAffiliationChanged   Reason = store.ReasonAffiliationChanged
	ReasonSuperseded           Reason = store.ReasonSuperseded
	ReasonCessationOfOperation Reason = store.ReasonCessationOfOperation
	ReasonPrivilegeWithdrawn   Reason = store.ReasonPrivilegeWithdrawn
)

var reasonNames = map[Reason]string{
	ReasonUnspecified:          "unspecified",
	ReasonKeyCompromise:        "keyCompromise",
	ReasonAffiliationChanged:   "affiliationChanged",
	ReasonSuperseded:           "superseded",
	ReasonCessationOfOperation: "cessationOfOperation",
	ReasonPrivilegeWithdrawn:   "privilegeWithdrawn",
}

// ReasonNames lists the names ParseReason takes, in code order.
const ReasonNames = "unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn"

// ParseReason reads a reason by its RFC 5280 name (as written there).
func ParseReason(name string) (Reason, error) {
	for r, n := range reasonNames {
		if n == name {
			return r, nil
		}
	}
	return 0, fmt.Errorf("%w: %q is not one of %s (a suspension is `suspend`, not a reason)", ErrReason, name, ReasonNames)
}

func (r Reason) String() string {
	if n, ok := reasonNames[r]; ok {
		return n
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// Audit actions of status changes: those audit.Check reads.
const (
	ActionRevoke    = "cert.revoke"
	ActionSuspend   = "cert.suspend"
	ActionUnsuspend = "cert.unsuspend"
)

// RevokeTx is the transaction the revoker needs: the status changes (each
// writes the status feed) and the audit chain.
type RevokeTx interface {
	RevokeCertificate(ctx context.Context, r store.Revocation) (store.StatusChange, error)
	SuspendCertificate(ctx context.Context, issuerID string, serial *big.Int, at time.Time) (store.StatusChange, error)
	ResumeCertificate(ctx context.Context, issuerID string, serial *big.Int, at time.Time) (store.StatusChange, error)
	RevokeHold(ctx context.Context, issuerID string, serial *big.Int, reason int, heldBefore, at time.Time) (store.StatusChange, error)
	audit.Chain
}

// revokerStore is what the revoker needs from the database.
type revokerStore interface {
	GetCA(ctx context.Context, id string) (store.CA, error)
	GetCertificate(ctx context.Context, issuerID string, serial *big.Int) (store.Certificate, error)
	HoldsBefore(ctx context.Context, cutoff time.Time, limit int) ([]store.Certificate, error)
	InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error
}

// RevokerOptions configure a Revoker.
type RevokerOptions struct {
	Store revokerStore
	Clock func() time.Time // time.Now when nil
	// HoldActor names who ExpireHolds' revocations are audited as
	// (DefaultHoldActor when empty).
	HoldActor string
	// MaxHold is the longest a hold may be lifted after it began (config
	// revocation.max_hold); Resume makes an older one a revocation.
	// Zero: DefaultMaxHold.
	MaxHold time.Duration
}

// DefaultMaxHold is config revocation.max_hold's default.
const DefaultMaxHold = 30 * 24 * time.Hour

// DefaultHoldActor is the audit actor of holds made final by ExpireHolds.
const DefaultHoldActor = "muhr-hold-expiry"

// Revoker changes certificate statuses: revocation (final), suspension
// (certificateHold) and its lifting. Each change is one transaction holding
// the status update, its row of the status feed (which the OCSP cache and
// the CRL producer poll) and its audit record with the reason. The database
// decides races: of several revokers of one certificate, in this process or
// others, exactly one wins and the others get a typed error.
type Revoker struct {
	st      revokerStore
	now     func() time.Time
	actor   string
	maxHold time.Duration
}

// NewRevoker returns a Revoker on o.Store.
func NewRevoker(o RevokerOptions) (*Revoker, error) {
	if o.Store == nil {
		return nil, errors.New("revoker: no store")
	}
	if o.MaxHold < 0 {
		return nil, fmt.Errorf("revoker: maximum hold %v must be positive", o.MaxHold)
	}
	r := &Revoker{st: o.Store, now: o.Clock, actor: o.HoldActor, maxHold: o.MaxHold}
	if r.maxHold == 0 {
		r.maxHold = DefaultMaxHold
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.actor == "" {
		r.actor = DefaultHoldActor
	}
	return r, nil
}

func (r *Revoker) check(ctx context.Context, issuerID string, serial *big.Int, actor string) error {
	switch {
	case actor == "":
		return fmt.Errorf("%w: no actor", ErrRevokeRequest)
	case issuerID == "":
		return fmt.Errorf("%w: no CA id", ErrRevokeRequest)
	case serial == nil || serial.Sign() <= 0 || serial.BitLen() > 160:
		return fmt.Errorf("%w: serial %v must be positive and at most 20 octets", ErrRevokeRequest, serial)
	}
	if _, err := r.st.GetCA(ctx, issuerID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %q", ErrUnknownCA, issuerID)
		}
		return fmt.Errorf("revoker: CA %s: %w", issuerID, err)
	}
	return nil
}

func utc(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Revoke revokes a valid or held certificate with reason, at the current
// time; a held one keeps its hold time as the revocation time. A
// compromiseTime (not in the future) becomes the invalidity date.
func (r *Revoker) Revoke(ctx context.Context, issuerID string, serial *big.Int, reason Reason, compromiseTime *time.Time, actor string) (store.StatusChange, error) {
	if err := r.check(ctx, issuerID, serial, actor); err != nil {
		return store.StatusChange{}, err
	}
	if _, ok := reasonNames[reason]; !ok {
		return store.StatusChange{}, fmt.Errorf("%w: code %d is not one of %s", ErrReason, int(reason), ReasonNames)
	}
	now := r.now()
	if compromiseTime != nil && compromiseTime.After(now) {
		return store.StatusChange{}, fmt.Errorf("%w: %s is in the future", ErrCompromiseTime, compromiseTime.UTC().Format(time.RFC3339))
	}
	return r.change(ctx, "revoke", issuerID, serial, now, func(ctx context.Context, tx RevokeTx) (store.StatusChange, error) {
		return tx.RevokeCertificate(ctx, store.Revocation{IssuerID: issuerID, Serial: serial, Reason: int(reason),
			At: now, InvalidityDate: compromiseTime})
	}, audit.Entry{Actor: actor, Action: ActionRevoke, Object: certObject(issuerID, serial)},
		func(ch store.StatusChange) map[string]any {
			return map[string]any{"reason": reason.String(), "reason_code": int(reason), "revoked_at": utc(ch.RevokedAt),
				"invalidity_date": utc(ch.InvalidityDate), "feed_seq": ch.Seq}
		})
}

// Suspend puts a valid certificate on hold (certificateHold) from now.
func (r *Revoker) Suspend(ctx context.Context, issuerID string, serial *big.Int, actor string) (store.StatusChange, error) {
	if err := r.check(ctx, issuerID, serial, actor); err != nil {
		return store.StatusChange{}, err
	}
	now := r.now()
	return r.change(ctx, "suspend", issuerID, serial, now, func(ctx context.Context, tx RevokeTx) (store.StatusChange, error) {
		return tx.SuspendCertificate(ctx, issuerID, serial, now)
	}, audit.Entry{Actor: actor, Action: ActionSuspend, Object: certObject(issuerID, serial)},
		func(ch store.StatusChange) map[string]any {
			return map[string]any{"reason": "certificateHold", "reason_code": store.ReasonCertificateHold,
				"held_at": utc(ch.RevokedAt), "feed_seq": ch.Seq}
		})
}

// Resume lifts a hold: the certificate is valid again (and leaves the next
// CRL). A revoked certificate stays revoked. A hold older than the maximum
// is not lifted: in the same transaction as its audit record it becomes the
// revocation ExpireHolds makes (reason unspecified, revoked since the hold
// began), and Resume returns ErrHoldExpired saying so. The conversion is
// the expiry job's conditional update, so racing it (in any process) makes
// exactly one revocation and one record; the loser is told the certificate
// is revoked.
func (r *Revoker) Resume(ctx context.Context, issuerID string, serial *big.Int, actor string) (store.StatusChange, error) {
	if err := r.check(ctx, issuerID, serial, actor); err != nil {
		return store.StatusChange{}, err
	}
	now := r.now()
	cutoff := now.Add(-r.maxHold)
	var ch store.StatusChange
	expired := false
	err := r.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		ch, err = RevokeTx(tx).RevokeHold(ctx, issuerID, serial, store.ReasonUnspecified, cutoff, now)
		switch {
		case err == nil:
			expired = true
			_, err = audit.Append(ctx, tx, now, r.holdExpiredEntry(issuerID, serial, ch, map[string]any{"resume_refused_for": actor}))
			return err
		case !errors.Is(err, store.ErrCertNotOnHold):
			return err
		}
		// Not a hold past the maximum: a hold since the cutoff, or no hold.
		if ch, err = tx.ResumeCertificate(ctx, issuerID, serial, now); err != nil {
			return err
		}
		_, err = audit.Append(ctx, tx, now, audit.Entry{Actor: actor, Action: ActionUnsuspend, Object: certObject(issuerID, serial),
			Details: map[string]any{"feed_seq": ch.Seq}})
		return err
	})
	cert := fmt.Sprintf("certificate %x of CA %s", serial, issuerID)
	switch {
	case err != nil && errors.Is(err, store.ErrCertRevoked):
		// Perhaps the expiry job made the hold final a moment ago.
		msg := ""
		if c, gerr := r.st.GetCertificate(ctx, issuerID, serial); gerr == nil && c.RevokedAt != nil {
			reason := ReasonUnspecified
			if c.RevocationReason != nil {
				reason = Reason(*c.RevocationReason)
			}
			msg = fmt.Sprintf(" (reason %s, since %s)", reason, c.RevokedAt.UTC().Format(time.RFC3339))
		}
		return store.StatusChange{}, fmt.Errorf("%w: cannot resume %s: it is revoked%s; issue the subscriber a new certificate", ErrAlreadyRevoked, cert, msg)
	case err != nil:
		return store.StatusChange{}, r.refused(ctx, "resume", issuerID, serial, err)
	case expired:
		return store.StatusChange{}, fmt.Errorf("%w: %s was on hold since %s, longer than the maximum hold of %s, so it was not resumed "+
			"but is now revoked (reason unspecified, revocation time %s, when the hold began); a revocation is final: issue the subscriber a new certificate",
			ErrHoldExpired, cert, ch.RevokedAt.UTC().Format(time.RFC3339), r.maxHold, ch.RevokedAt.UTC().Format(time.RFC3339))
	}
	return ch, nil
}

// holdExpiredEntry is the audit record of a hold made a revocation for
// being older than the maximum.
func (r *Revoker) holdExpiredEntry(issuerID string, serial *big.Int, ch store.StatusChange, extra map[string]any) audit.Entry {
	d := map[string]any{"reason": ReasonUnspecified.String(), "reason_code": store.ReasonUnspecified,
		"revoked_at": utc(ch.RevokedAt), "hold_expired": true, "max_hold": r.maxHold.String(), "feed_seq": ch.Seq}
	for k, v := range extra {
		d[k] = v
	}
	return audit.Entry{Actor: r.actor, Action: ActionRevoke, Object: certObject(issuerID, serial), Details: d}
}

// change applies one status change and its audit record (entry, with the
// details made from the change) in one transaction, so the row, the feed
// and the chain move together or not at all; a refusal is explained by
// refused.
func (r *Revoker) change(ctx context.Context, op, issuerID string, serial *big.Int, now time.Time,
	apply func(context.Context, RevokeTx) (store.StatusChange, error), entry audit.Entry,
	details func(store.StatusChange) map[string]any) (store.StatusChange, error) {
	var ch store.StatusChange
	err := r.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		if ch, err = apply(ctx, tx); err != nil {
			return err
		}
		entry.Details = details(ch)
		_, err = audit.Append(ctx, tx, now, entry)
		return err
	})
	if err != nil {
		return store.StatusChange{}, r.refused(ctx, op, issuerID, serial, err)
	}
	return ch, nil
}

// holdPage is how many holds ExpireHolds reads at once.
const holdPage = 100

// ExpireHolds makes every hold that began more than maxHold before now a
// revocation (reason unspecified: the center does not know why the
// subscriber asked for the hold), keeping the hold time as the revocation
// time, each in its own audited transaction. A hold lifted or revoked
// meanwhile is left alone. It returns the changes made.
func (r *Revoker) ExpireHolds(ctx context.Context, now time.Time, maxHold time.Duration) ([]store.StatusChange, error) {
	if maxHold <= 0 {
		return nil, fmt.Errorf("%w: maximum hold %v must be positive", ErrRevokeRequest, maxHold)
	}
	cutoff := now.Add(-maxHold)
	var out []store.StatusChange
	for {
		holds, err := r.st.HoldsBefore(ctx, cutoff, holdPage)
		if err != nil {
			return out, fmt.Errorf("revoker: list holds: %w", err)
		}
		changed := 0
		for _, h := range holds {
			var ch store.StatusChange
			err := r.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				var err error
				ch, err = RevokeTx(tx).RevokeHold(ctx, h.IssuerID, h.Serial, store.ReasonUnspecified, cutoff, now)
				if err != nil {
					return err
				}
				_, err = audit.Append(ctx, tx, now, r.holdExpiredEntry(h.IssuerID, h.Serial, ch, map[string]any{"max_hold": maxHold.String()}))
				return err
			})
			switch {
			case err == nil:
				out = append(out, ch)
				changed++
			case errors.Is(err, store.ErrCertNotOnHold) || errors.Is(err, store.ErrCertRevoked):
				// lifted or revoked since the list was read
			default:
				return out, r.refused(ctx, "expire hold of", h.IssuerID, h.Serial, err)
			}
		}
		if len(holds) < holdPage || changed == 0 {
			return out, nil
		}
	}
}

// refused turns the store's refusals into the revoker's errors, with the
// certificate named; other errors pass wrapped.
func (r *Revoker) refused(ctx context.Context, what, issuerID string, serial *big.Int, err error) error {
	cert := fmt.Sprintf("certificate %x of CA %s", serial, issuerID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %s: no certificate with that serial was issued", ErrUnknownCertificate, cert)
	case errors.Is(err, store.ErrCertRevoked):
		return fmt.Errorf("%w: cannot %s %s", ErrAlreadyRevoked, what, cert)
	case errors.Is(err, store.ErrCertOnHold):
		return fmt.Errorf("%w: %s", ErrAlreadyOnHold, cert)
	case errors.Is(err, store.ErrCertNotOnHold):
		return fmt.Errorf("%w: %s is valid", ErrNotOnHold, cert)
	case errors.Is(err, store.ErrCertExpired):
		if c, gerr := r.st.GetCertificate(ctx, issuerID, serial); gerr == nil {
			cert += fmt.Sprintf(" expired on %s and stays %s", c.NotAfter.UTC().Format(time.RFC3339), c.Status)
		}
		return fmt.Errorf("%w: %s; nothing was changed", ErrExpired, cert)
	case errors.Is(err, store.ErrBadReason):
		return fmt.Errorf("%w: %w", ErrReason, err)
	}
	return fmt.Errorf("revoker: %s %s: %w", what, cert, err)
}
