package tsa

import (
	"context"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/store"
)

// Ledger records each token before it is released. RecordToken must fail
// with store.ErrDuplicateSerial when the serial was ever recorded.
type Ledger interface {
	RecordToken(ctx context.Context, t store.TSAToken) error
}

// Tx is the transaction the ledger writes in: token rows, and the audit
// record that vouches for them.
type Tx interface {
	InsertTSAToken(ctx context.Context, t store.TSAToken) error
	// InsertTSATokens writes a batch in one statement.
	InsertTSATokens(ctx context.Context, ts []store.TSAToken) error
	audit.Chain
}

// ledgerActor signs the ledger's audit records.
const ledgerActor = "muhr-tsa"

// appendBatch appends the audit record for rows just inserted in tx (one per
// transaction, however many rows). It comes after the inserts: on
// PostgreSQL it takes the chain's advisory lock, held until the commit, so
// ledger batches and issuance queue on it for the commit only.
func appendBatch(ctx context.Context, tx Tx, toks []store.TSAToken) error {
	_, err := audit.Append(ctx, tx, time.Now(), audit.LedgerBatchEntry(ledgerActor, toks))
	return err
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
	return inTx(ctx, l.st, func(ctx context.Context, tx Tx) error {
		if err := tx.InsertTSAToken(ctx, t); err != nil {
			return err
		}
		return appendBatch(ctx, tx, []store.TSAToken{t})
	})
}
