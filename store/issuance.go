package store

import (
	"context"
	"math/big"
	"time"
)

// Issuance intent states. An intent is written before the CA key signs and
// marked issued in the transaction that stores the certificate; one left
// pending by a crash is abandoned on restart (its serial stays burned).
const (
	IntentPending   = "pending"
	IntentIssued    = "issued"
	IntentAbandoned = "abandoned"
)

// IssuanceIntent records that a serial is about to be signed for a request.
type IssuanceIntent struct {
	IssuerID  string
	Serial    *big.Int
	RequestID string // the approved request this certificate answers
	Profile   string
	SPKIHash  []byte // SHA-256 of the subject public key info
	State     string // Intent*
	CreatedAt time.Time
	UpdatedAt time.Time
}

// IssuanceReader holds the issuer's queries.
type IssuanceReader interface {
	// LiveIntent returns the request's pending or issued intent
	// (ErrNotFound when it has none).
	LiveIntent(ctx context.Context, requestID string) (IssuanceIntent, error)
	// PendingIntents lists intents a crash left between sign and store.
	PendingIntents(ctx context.Context) ([]IssuanceIntent, error)
	// IntentsBySPKI lists the live intents for a public key.
	IntentsBySPKI(ctx context.Context, spkiHash []byte) ([]IssuanceIntent, error)
}

// IssuanceWriter holds the issuer's changes.
type IssuanceWriter interface {
	// InsertIntent needs the serial reserved first; ErrExists when the
	// request already has a live intent (the database enforces it).
	InsertIntent(ctx context.Context, in IssuanceIntent) error
	// SetIntentState moves an intent from one state to another;
	// ErrNotFound when it is not in state from.
	SetIntentState(ctx context.Context, issuerID string, serial *big.Int, from, to string, at time.Time) error
}
