package store

import (
	"context"
	"fmt"
	"math/big"
	"time"
)

// Issuance intent states. An intent is written before the CA key signs and
// marked issued in the transaction that stores the certificate; one left
// pending by a process that is gone is abandoned by recovery once its
// holder's lease has run out (its serial stays burned).
const (
	IntentPending   = "pending"
	IntentIssued    = "issued"
	IntentAbandoned = "abandoned"
)

// ErrKeyInUse is InsertIntent's answer when the public key already has a
// live (pending or issued) intent: one key is certified once, and the
// database enforces it. It is also an ErrExists.
var ErrKeyInUse = fmt.Errorf("%w: public key already has a live intent", ErrExists)

// IssuanceHolder is one live issuer (a ca.Issuer in some process). It
// renews its lease while it runs; once the lease has run out the holder is
// gone and recovery may abandon its pending intents.
type IssuanceHolder struct {
	ID        string // random, 16 to 64 characters
	IssuerID  string // the CA it issues for
	Info      string // host, process id, program: for people reading the table
	StartedAt time.Time
	ExpiresAt time.Time
}

// IssuanceIntent records that a serial is about to be signed for a request.
type IssuanceIntent struct {
	IssuerID  string
	Serial    *big.Int
	RequestID string // the approved request this certificate answers
	Profile   string
	SPKIHash  []byte // SHA-256 of the subject public key info
	State     string // Intent*
	// HolderID names the IssuanceHolder that wrote the intent; "" for
	// intents written before holders existed (recovery treats them as gone).
	HolderID string
	// RequestHash is the SHA-256 fingerprint of the request's content, so
	// the same request id with other content is told apart; nil for intents
	// written before it was kept.
	RequestHash []byte
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// IssuanceReader holds the issuer's queries.
type IssuanceReader interface {
	// LiveIntent returns the request's pending or issued intent
	// (ErrNotFound when it has none).
	LiveIntent(ctx context.Context, requestID string) (IssuanceIntent, error)
	// PendingIntents lists every pending intent, of every holder.
	PendingIntents(ctx context.Context) ([]IssuanceIntent, error)
	// StaleIntents lists the issuer's pending intents whose holder's lease
	// ended before now (or that have no holder).
	StaleIntents(ctx context.Context, issuerID string, now time.Time) ([]IssuanceIntent, error)
	// IntentsBySPKI lists the live intents for a public key.
	IntentsBySPKI(ctx context.Context, spkiHash []byte) ([]IssuanceIntent, error)
	// GetHolder returns a holder (ErrNotFound when unknown).
	GetHolder(ctx context.Context, id string) (IssuanceHolder, error)
}

// IssuanceWriter holds the issuer's changes.
type IssuanceWriter interface {
	// InsertHolder registers a holder; ErrExists on a reused id.
	InsertHolder(ctx context.Context, h IssuanceHolder) error
	// RenewHolder moves the holder's lease end to expiresAt, which may be
	// now (a holder that stops releases its lease so). ErrNotFound when the
	// holder is unknown or its lease already ended before now: a holder
	// whose lease ran out is gone for good, and its intents with it.
	RenewHolder(ctx context.Context, id string, now, expiresAt time.Time) error
	// InsertIntent needs the serial reserved first; ErrExists when the
	// request already has a live intent, ErrKeyInUse when the public key has
	// one (the database enforces both).
	InsertIntent(ctx context.Context, in IssuanceIntent) error
	// SetIntentState moves an intent from one state to another;
	// ErrNotFound when it is not in state from.
	SetIntentState(ctx context.Context, issuerID string, serial *big.Int, from, to string, at time.Time) error
	// AbandonStaleIntent abandons a pending intent whose holder's lease
	// ended before now (or that has no holder), deciding that inside the
	// transaction so a holder renewing at the same moment is never
	// overtaken; ErrNotFound when the intent is not pending or its holder
	// is live.
	AbandonStaleIntent(ctx context.Context, issuerID string, serial *big.Int, now time.Time) error
}
