package tsa_test

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/tsa"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

// flakyStore wraps a store: it knows which serials really committed, and
// fails chosen commits ambiguously: after committing ("committed"), or
// after the inserts but rolled back ("lost"), both reported as a commit
// error. delay holds every transaction, to keep requests in flight.
type flakyStore struct {
	store.Store
	mu               sync.Mutex
	committed        map[string]bool
	committedButFail atomic.Int64
	lostAndFail      atomic.Int64
	delay            time.Duration
	started          chan struct{} // one send per InTx, when non-nil
}

var errCommit = errors.New("commit: connection reset by peer")

func (f *flakyStore) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	if f.started != nil {
		select {
		case f.started <- struct{}{}:
		default:
		}
	}
	time.Sleep(f.delay)
	var serials []string
	lose := false
	err := f.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		serials = nil
		rec := &recordingTx{Tx: tx, serials: &serials}
		if err := fn(ctx, rec); err != nil {
			return err
		}
		if f.lostAndFail.Add(-1) >= 0 {
			lose = true
			return errCommit // rolled back
		}
		return nil
	})
	if err != nil {
		return err
	}
	f.mu.Lock()
	for _, s := range serials {
		f.committed[s] = true
	}
	f.mu.Unlock()
	if lose {
		return errCommit
	}
	if f.committedButFail.Add(-1) >= 0 {
		return errCommit
	}
	return nil
}

type recordingTx struct {
	store.Tx
	serials *[]string
}

func (r *recordingTx) InsertTSAToken(ctx context.Context, t store.TSAToken) error {
	if err := r.Tx.InsertTSAToken(ctx, t); err != nil {
		return err
	}
	*r.serials = append(*r.serials, t.Serial.Text(16))
	return nil
}

func (r *recordingTx) InsertTSATokens(ctx context.Context, ts []store.TSAToken) error {
	if err := r.Tx.InsertTSATokens(ctx, ts); err != nil {
		return err
	}
	for _, t := range ts {
		*r.serials = append(*r.serials, t.Serial.Text(16))
	}
	return nil
}

func newFlaky(t *testing.T) (*flakyStore, *tsatest.PKI) {
	pki := tsatest.NewPKI(t, nil)
	return &flakyStore{Store: pki.Store, committed: map[string]bool{}}, pki
}

// After a commit that failed ambiguously, every token is released exactly
// when its row is committed, and no row is committed for a token that was
// not released (a blind retry would hit its own row as a "reused serial",
// sign another token and leave the first recorded but never released).
func TestBatchLedgerAmbiguousCommitIsExact(t *testing.T) {
	for _, mode := range []string{"committed", "lost"} {
		t.Run(mode, func(t *testing.T) {
			fs, pki := newFlaky(t)
			if mode == "committed" {
				fs.committedButFail.Store(3)
			} else {
				fs.lostAndFail.Store(3)
			}
			e := newEnv(t, pki, func(o *tsa.Options) { o.Ledger = &countingLedger{Ledger: newBatchLedger(t, fs)} })
			var mu sync.Mutex
			released := map[string]bool{}
			var rejected atomic.Int64
			var wg sync.WaitGroup
			for range 64 {
				wg.Go(func() {
					reply := e.tsa.Respond(t.Context(), request(t, nil), "127.0.0.1:1")
					parseMu.Lock()
					ts, err := timestamp.ParseResponse(reply)
					parseMu.Unlock()
					if err != nil {
						rejected.Add(1)
						return
					}
					mu.Lock()
					released[ts.SerialNumber.Text(16)] = true
					mu.Unlock()
				})
			}
			wg.Wait()
			if n := rejected.Load(); n != 0 {
				t.Errorf("%d requests refused; every ambiguous commit was resolvable", n)
			}
			fs.mu.Lock()
			defer fs.mu.Unlock()
			for s := range released {
				if !fs.committed[s] {
					t.Errorf("token %s released without a committed row", s)
				}
				if _, err := pki.Store.GetTSAToken(t.Context(), mustHex(t, s)); err != nil {
					t.Errorf("released token %s: %v", s, err)
				}
			}
			for s := range fs.committed {
				if !released[s] {
					t.Errorf("row %s committed for a token never released", s)
				}
			}
			if e.ledger.dups.Load() != 0 {
				t.Errorf("%d inserts refused as reused serials", e.ledger.dups.Load())
			}
		})
	}
}

func mustHex(t *testing.T, s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		t.Fatalf("serial %q", s)
	}
	return n
}

// Close drains: requests in flight finish with their token committed,
// later ones are refused as a shutdown, and the ledger writer stops.
func TestCloseDrainsInFlight(t *testing.T) {
	fs, pki := newFlaky(t)
	fs.delay = 150 * time.Millisecond
	fs.started = make(chan struct{}, 1)
	l := tsa.NewBatchLedger(fs, 0)
	e := newEnv(t, pki, func(o *tsa.Options) { o.Ledger = l })
	const n = 16
	replies := make(chan []byte, n)
	for range n {
		go func() { replies <- e.tsa.Respond(context.Background(), request(t, nil), "127.0.0.1:1") }()
	}
	<-fs.started // the first batch is being committed
	time.Sleep(20 * time.Millisecond)
	if err := e.tsa.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Close returned: every reply is ready.
	granted := 0
	for range n {
		select {
		case r := <-replies:
			parseMu.Lock()
			ts, err := timestamp.ParseResponse(r)
			parseMu.Unlock()
			if err == nil {
				granted++
				if _, err := pki.Store.GetTSAToken(t.Context(), ts.SerialNumber); err != nil {
					t.Errorf("released token not in the ledger: %v", err)
				}
			} else if !strings.Contains(err.Error(), "shutting down") {
				t.Errorf("request in flight failed: %v", err)
			}
		default:
			t.Fatal("Close returned while a request was still in flight")
		}
	}
	if granted == 0 {
		t.Fatal("no request in flight was granted")
	}
	late := e.tsa.Respond(t.Context(), request(t, nil), "127.0.0.1:1")
	parseMu.Lock()
	_, err := timestamp.ParseResponse(late)
	parseMu.Unlock()
	if err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("request after Close: %v, want a shutdown refusal", err)
	}
	if err := l.RecordToken(t.Context(), store.TSAToken{}); !errors.Is(err, tsa.ErrLedgerClosed) {
		t.Fatalf("ledger after Close: %v", err)
	}
}
