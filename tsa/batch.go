package tsa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/store"
)

// ErrLedgerClosed is returned once the batch ledger is closed.
var ErrLedgerClosed = errkind.New(errkind.Unavailable, "tsa: ledger closed")

// ErrNotRecorded means a commit failed in a way that leaves unknown whether
// the token's row was written, and looking it up failed too: the token is
// not released (it may sit in the ledger unreleased; the log names it).
var ErrNotRecorded = errkind.New(errkind.Unavailable, "tsa: token's ledger row is in doubt")

// commitTimeout bounds one batch transaction, so a hung database fails the
// requests waiting on it instead of holding them for ever.
const commitTimeout = 15 * time.Second

// BatchLedger records tokens with group commit: one writer goroutine puts
// every token waiting at that moment into a single transaction, so many
// requests share one commit (one fsync on SQLite, one round trip on
// PostgreSQL) instead of queueing for the write lock one by one. Each
// caller still returns only after its own row is committed.
//
// A failed batch is resolved exactly, row by row: when the transaction
// surely rolled back (an insert failed, e.g. a reused serial), its rows are
// retried one per transaction so only the offending token sees the error;
// when the commit itself failed (it may or may not have committed), each
// row is first looked up, and one found with its token is reported
// committed rather than inserted again (which would fail as a reused serial
// and have the caller sign, record and release another token, leaving the
// first recorded but never released).
type BatchLedger struct {
	st     BatchStore
	max    int
	linger time.Duration
	reqs   chan batchItem
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// BatchStore is what the batch ledger needs of the store: transactions,
// and a look-up to settle a commit that failed ambiguously.
type BatchStore interface {
	TxStore
	GetTSAToken(ctx context.Context, serial *big.Int) (store.TSAToken, error)
}

type batchItem struct {
	tok store.TSAToken
	err chan error
}

// NewBatchLedger starts one writer; Close stops it. max bounds the rows per
// transaction (default 256).
func NewBatchLedger(st BatchStore, max int) *BatchLedger { return NewBatchLedgerWriters(st, max, 1) }

// NewBatchLedgerWriters starts writers goroutines that commit batches side
// by side. That can pay on a PostgreSQL with cores of its own, where
// commits of concurrent transactions overlap (each waits for its WAL
// flush); sharing 2 cores with the database, one writer with bigger
// batches used less CPU a token and gave more tokens/s. Never on SQLite,
// whose single write lock makes a second writer sleep in the busy handler.
func NewBatchLedgerWriters(st BatchStore, maxRows, writers int) *BatchLedger {
	return NewBatchLedgerWith(st, BatchOptions{MaxRows: maxRows, Writers: writers})
}

// BatchOptions tunes a BatchLedger.
type BatchOptions struct {
	MaxRows int // rows per transaction; default 256
	Writers int // writer goroutines; default 1 (see NewBatchLedgerWriters)
	// Linger is how long a writer whose last batch had company waits for
	// more tokens before committing: a commit's cost (an fsync) is then
	// shared by more tokens, for at most Linger of latency. A writer whose
	// last batch was a single token commits at once, so a lone client
	// never waits. Zero never waits.
	Linger time.Duration
}

// NewBatchLedgerWith starts a BatchLedger with o.
func NewBatchLedgerWith(st BatchStore, o BatchOptions) *BatchLedger {
	if o.MaxRows <= 0 {
		o.MaxRows = 256
	}
	writers := max(o.Writers, 1)
	l := &BatchLedger{st: st, max: o.MaxRows, linger: max(o.Linger, 0), reqs: make(chan batchItem),
		quit: make(chan struct{}), done: make(chan struct{})}
	var wg sync.WaitGroup
	for range writers {
		wg.Go(l.run)
	}
	go func() { wg.Wait(); close(l.done) }()
	return l
}

// RecordToken queues the token and waits for its commit. Once queued it
// waits whatever ctx does: the outcome must be known before the caller
// decides whether to release the token.
func (l *BatchLedger) RecordToken(ctx context.Context, t store.TSAToken) error {
	it := batchItem{tok: t, err: make(chan error, 1)}
	select {
	case l.reqs <- it:
	case <-l.done:
		return ErrLedgerClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-it.err
}

// Close finishes the batch being committed and stops the writer; tokens
// queued after it get ErrLedgerClosed. Drain the Server first (its Close
// does), so no request is cut off.
func (l *BatchLedger) Close() error {
	l.once.Do(func() { close(l.quit) })
	<-l.done
	return nil
}

func (l *BatchLedger) run() {
	var timer *time.Timer
	last := 0
	for {
		var batch []batchItem
		select {
		case it := <-l.reqs:
			batch = append(batch, it)
		case <-l.quit:
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
		if l.linger > 0 && last > 1 && len(batch) < l.max {
			if timer == nil {
				timer = time.NewTimer(l.linger)
			} else {
				timer.Reset(l.linger)
			}
		linger:
			for len(batch) < l.max {
				select {
				case it := <-l.reqs:
					batch = append(batch, it)
				case <-timer.C:
					break linger
				case <-l.quit:
					break linger
				}
			}
			timer.Stop()
		}
		last = len(batch)
		l.commit(batch)
	}
}

func (l *BatchLedger) commit(batch []batchItem) {
	toks := make([]store.TSAToken, len(batch))
	for i, it := range batch {
		toks[i] = it.tok
	}
	err, ambiguous := l.insert(toks...)
	switch {
	case err == nil:
		for _, it := range batch {
			it.err <- nil
		}
	case len(batch) == 1 && !ambiguous:
		batch[0].err <- err
	default:
		for _, it := range batch {
			it.err <- l.settle(it.tok, ambiguous)
		}
	}
}

// insert writes the rows in one transaction. ambiguous reports a failure
// after every insert succeeded: the commit failed and may have taken effect.
func (l *BatchLedger) insert(toks ...store.TSAToken) (err error, ambiguous bool) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	inserted := false
	err = inTx(ctx, l.st, func(ctx context.Context, tx Tx) error {
		if err := tx.InsertTSATokens(ctx, toks); err != nil {
			return err
		}
		// The chain vouches for the batch in the same transaction; a failed
		// append surely rolls back, so it is not ambiguous.
		if err := appendBatch(ctx, tx, toks); err != nil {
			return err
		}
		inserted = true
		return nil
	})
	return err, err != nil && inserted
}

// settle records one token of a failed batch exactly once: if the batch may
// have committed, a row holding this very token means it did.
func (l *BatchLedger) settle(t store.TSAToken, inDoubt bool) error {
	for attempt := 0; attempt < 3; attempt++ {
		if inDoubt {
			switch found, err := l.committed(t); {
			case err != nil:
				return fmt.Errorf("%w: serial %s: %w", ErrNotRecorded, t.Serial.Text(16), err)
			case found:
				return nil
			}
		}
		err, ambiguous := l.insert(t)
		if !ambiguous {
			return err
		}
		inDoubt = true
	}
	return fmt.Errorf("%w: serial %s: commits keep failing", ErrNotRecorded, t.Serial.Text(16))
}

// committed reports whether the ledger holds t's row with t's token. A row
// with the serial but another token is not t's: t then fails as a reused
// serial when inserted.
func (l *BatchLedger) committed(t store.TSAToken) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	row, err := l.st.GetTSAToken(ctx, t.Serial)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return bytes.Equal(row.TokenDER, t.TokenDER), nil
}
