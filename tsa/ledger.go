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

// TxStore is the part of store.Store the ledger writes through.
type TxStore interface {
	InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error
}

// StoreLedger records tokens in the store's tsa_tokens table, one committed
// transaction per token.
func StoreLedger(st TxStore) Ledger { return storeLedger{st} }

type storeLedger struct{ st TxStore }

func (l storeLedger) RecordToken(ctx context.Context, t store.TSAToken) error {
	return l.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.InsertTSAToken(ctx, t) })
}
