package tsa

import (
	"context"

	"github.com/muhr-pki/muhr/store"
)

// Ledger records each token before it is released. RecordToken must fail
// with store.ErrDuplicateSerial when the serial was ever recorded.
type Ledger interface {
	RecordToken(ctx context.Context, t store.TSAToken) error
}

// Tx is the transaction the ledger writes in: token rows only.
type Tx interface {
	InsertTSAToken(ctx context.Context, t store.TSAToken) error
	// InsertTSATokens writes a batch in one statement.
	InsertTSATokens(ctx context.Context, ts []store.TSAToken) error
}

// TxStore is the part of store.Store the ledger writes through.
type TxStore interface {
	InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error
}

// inTx runs fn in one transaction that it sees only as a Tx.
func inTx(ctx context.Context, st TxStore, fn func(ctx context.Context, tx Tx) error) error {
	return st.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return fn(ctx, tx) })
}

// StoreLedger records tokens in the store's tsa_tokens table, one committed
// transaction per token.
func StoreLedger(st TxStore) Ledger { return storeLedger{st} }

type storeLedger struct{ st TxStore }

func (l storeLedger) RecordToken(ctx context.Context, t store.TSAToken) error {
	return inTx(ctx, l.st, func(ctx context.Context, tx Tx) error { return tx.InsertTSAToken(ctx, t) })
}
