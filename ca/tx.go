package ca

import (
	"context"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/store"
)

// Tx is the transaction the issuer needs: serials, holders, intents, certificates and
// the audit chain (appended only through audit.Append).
type Tx interface {
	ReserveSerial(ctx context.Context, r store.SerialReservation) error
	InsertIntent(ctx context.Context, in store.IssuanceIntent) error
	SetIntentState(ctx context.Context, issuerID string, serial *big.Int, from, to string, at time.Time) error
	InsertCertificate(ctx context.Context, c store.Certificate) error
	InsertHolder(ctx context.Context, h store.IssuanceHolder) error
	RenewHolder(ctx context.Context, id string, now, expiresAt time.Time) error
	AbandonStaleIntent(ctx context.Context, issuerID string, serial *big.Int, now time.Time) error
	audit.Chain
}

// CeremonyTx is the transaction the key ceremony needs to record a new
// hierarchy.
type CeremonyTx interface {
	InsertCA(ctx context.Context, ca store.CA) error
	ReserveSerial(ctx context.Context, r store.SerialReservation) error
	InsertCertificate(ctx context.Context, c store.Certificate) error
	InsertSigner(ctx context.Context, s store.Signer) error
	InsertCRL(ctx context.Context, c store.CRL) error
	audit.Chain
}

// txRunner runs a store transaction (store.Store has it).
type txRunner interface {
	InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error
}

// inTx runs fn in one transaction that it sees only as a Tx.
func inTx(ctx context.Context, r txRunner, fn func(ctx context.Context, tx Tx) error) error {
	return r.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return fn(ctx, tx) })
}

// inCeremonyTx runs fn in one transaction that it sees only as a CeremonyTx.
func inCeremonyTx(ctx context.Context, r txRunner, fn func(ctx context.Context, tx CeremonyTx) error) error {
	return r.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return fn(ctx, tx) })
}
