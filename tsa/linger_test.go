package tsa_test

import (
	"context"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/tsa"
)

// batchRecorder is a BatchStore that only remembers the rows of each
// transaction; a commit takes 20 ms, so tokens queue behind it.
type batchRecorder struct {
	mu      sync.Mutex
	batches [][]string
}

func (b *batchRecorder) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	time.Sleep(20 * time.Millisecond)
	return fn(ctx, recorderTx{b: b})
}

func (b *batchRecorder) GetTSAToken(context.Context, *big.Int) (store.TSAToken, error) {
	return store.TSAToken{}, store.ErrNotFound
}

func (b *batchRecorder) last() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.batches) == 0 {
		return nil
	}
	return b.batches[len(b.batches)-1]
}

type recorderTx struct {
	store.Tx
	b *batchRecorder
}

func (r recorderTx) InsertTSAToken(ctx context.Context, t store.TSAToken) error {
	return r.InsertTSATokens(ctx, []store.TSAToken{t})
}

func (r recorderTx) InsertTSATokens(_ context.Context, ts []store.TSAToken) error {
	var rows []string
	for _, t := range ts {
		rows = append(rows, t.Requester)
	}
	r.b.mu.Lock()
	r.b.batches = append(r.b.batches, rows)
	r.b.mu.Unlock()
	return nil
}

// companyThenLast makes the writer's latest batch one of several tokens.
func companyThenLast(t *testing.T, l *tsa.BatchLedger, b *batchRecorder) {
	t.Helper()
	for try := 0; try < 50; try++ {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { _ = l.RecordToken(t.Context(), store.TSAToken{Requester: "crowd"}) })
		}
		wg.Wait()
		if len(b.last()) > 1 {
			return
		}
	}
	t.Fatal("8 concurrent tokens never shared a batch")
}

func record(t *testing.T, l *tsa.BatchLedger, name string) <-chan error {
	done := make(chan error, 1)
	go func() { done <- l.RecordToken(context.Background(), store.TSAToken{Requester: name}) }()
	return done
}

// After a batch with company the writer waits for more (up to Linger), so
// two tokens arriving apart share one commit; after a lone token it does
// not wait, so a single client never pays the linger.
func TestBatchLedgerLinger(t *testing.T) {
	b := &batchRecorder{}
	l := tsa.NewBatchLedgerWith(b, tsa.BatchOptions{Linger: 2 * time.Second})
	t.Cleanup(func() { _ = l.Close() })

	companyThenLast(t, l, b)
	d := record(t, l, "d")
	time.Sleep(100 * time.Millisecond)
	e := record(t, l, "e")
	for _, c := range []<-chan error{d, e} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if got := b.last(); len(got) != 2 {
		t.Fatalf("tokens 100 ms apart after a shared batch: batch %v, want [d e]", got)
	}

	// That batch had company, so this lone token waits out the linger...
	if err := <-record(t, l, "f"); err != nil {
		t.Fatal(err)
	}
	// ... and the next lone token, after a batch of one, does not wait.
	start := time.Now()
	if err := <-record(t, l, "g"); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("a token after a lone batch waited %s: the linger (2s) applied", waited)
	}
}

// Close cuts a linger short: the token waiting in it is committed and Close
// returns without waiting the linger out.
func TestBatchLedgerCloseEndsLinger(t *testing.T) {
	b := &batchRecorder{}
	l := tsa.NewBatchLedgerWith(b, tsa.BatchOptions{Linger: time.Minute})
	companyThenLast(t, l, b)
	h := record(t, l, "h")
	select {
	case err := <-h:
		t.Fatalf("h committed at once (%v): the writer did not linger", err)
	case <-time.After(300 * time.Millisecond):
	}
	closed := make(chan struct{})
	go func() { _ = l.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close waited for the linger (1 min) to run out")
	}
	if err := <-h; err != nil {
		t.Fatalf("token lingering at Close: %v, want committed", err)
	}
	if got := b.last(); len(got) != 1 || got[0] != "h" {
		t.Fatalf("last batch %v, want [h]", got)
	}
}

// AppendAudit accepts the ledger's per-batch audit record; this fake keeps
// no chain.
func (r recorderTx) AppendAudit(_ context.Context, at time.Time, e store.AuditEntry) (store.AuditRecord, error) {
	return store.AuditRecord{Time: at, Actor: e.Actor, Action: e.Action, Object: e.Object}, nil
}
