package tsa

import (
	"context"

	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/store"
)

// ErrLedgerClosed is returned once the batch ledger's context has ended.
var ErrLedgerClosed = errkind.New(errkind.Unavailable, "tsa: ledger closed")

// BatchLedger records tokens with group commit: one writer goroutine puts
// every token waiting at that moment into a single transaction, so many
// requests share one commit (one fsync on SQLite, one round trip on
// PostgreSQL) instead of queueing for the write lock one by one. Each
// caller still returns only after its own row is committed; when a batch
// fails (a reused serial), its rows are retried one per transaction so only
// the offending token sees the error.
type BatchLedger struct {
	st   TxStore
	max  int
	reqs chan batchItem
	done chan struct{}
}

type batchItem struct {
	tok store.TSAToken
	err chan error
}

// NewBatchLedger starts the writer; it stops when ctx ends. max bounds the
// rows per transaction (default 256).
func NewBatchLedger(ctx context.Context, st TxStore, max int) *BatchLedger {
	if max <= 0 {
		max = 256
	}
	l := &BatchLedger{st: st, max: max, reqs: make(chan batchItem), done: make(chan struct{})}
	go l.run(ctx)
	return l
}

// RecordToken queues the token and waits for its commit.
func (l *BatchLedger) RecordToken(ctx context.Context, t store.TSAToken) error {
	it := batchItem{tok: t, err: make(chan error, 1)}
	select {
	case l.reqs <- it:
	case <-l.done:
		return ErrLedgerClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-it.err:
		return err
	case <-ctx.Done():
		// The row may still commit; the token is not released either way.
		return ctx.Err()
	}
}

func (l *BatchLedger) run(ctx context.Context) {
	defer close(l.done)
	for {
		var batch []batchItem
		select {
		case it := <-l.reqs:
			batch = append(batch, it)
		case <-ctx.Done():
			return
		}
	fill:
		for len(batch) < l.max {
			select {
			case it := <-l.reqs:
				batch = append(batch, it)
			default:
				break fill
			}
		}
		l.commit(context.WithoutCancel(ctx), batch)
	}
}

func (l *BatchLedger) commit(ctx context.Context, batch []batchItem) {
	err := l.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, it := range batch {
			if err := tx.InsertTSAToken(ctx, it.tok); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(batch) == 1 {
		for _, it := range batch {
			it.err <- err
		}
		return
	}
	for _, it := range batch {
		it.err <- StoreLedger(l.st).RecordToken(ctx, it.tok)
	}
}
