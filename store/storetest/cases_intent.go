package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/store"
)

func intent(issuer string, serial *big.Int, request string, key string) store.IssuanceIntent {
	h := sha256.Sum256([]byte(key))
	return store.IssuanceIntent{IssuerID: issuer, Serial: serial, RequestID: request, Profile: "qes-person",
		SPKIHash: h[:], State: store.IntentPending, CreatedAt: base, UpdatedAt: base}
}

func testIntents(t *testing.T, s store.Store) {
	t.Run("Lifecycle", func(t *testing.T) { testIntentLifecycle(t, s) })
	t.Run("Holders", func(t *testing.T) { testHolders(t, s) })
	t.Run("StaleIntents", func(t *testing.T) { testStaleIntents(t, s) })
	t.Run("OneLiveIntentPerKey", func(t *testing.T) { testOneLiveIntentPerKey(t, s) })
	t.Run("ConcurrentSameKeyOneWins", func(t *testing.T) { testConcurrentSameKey(t, s) })
}

func testIntentLifecycle(t *testing.T, s store.Store) {
	addCA(t, s, "ca-a")
	first, second := randSerial(t), randSerial(t)
	add := func(in store.IssuanceIntent) error {
		return s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
			if err := tx.ReserveSerial(ctx, reservation(in.IssuerID, in.Serial)); err != nil {
				return err
			}
			return tx.InsertIntent(ctx, in)
		})
	}
	if err := add(intent("ca-a", first, "req-1", "key-1")); err != nil {
		t.Fatalf("InsertIntent: %v", err)
	}
	// A request has one live intent at a time: the database refuses a second.
	wantKind(t, "second live intent of a request", add(intent("ca-a", second, "req-1", "key-1")), store.ErrExists)
	// An intent needs its serial reserved.
	err := s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		return tx.InsertIntent(ctx, intent("ca-a", randSerial(t), "req-2", "key-2"))
	})
	wantKind(t, "intent without reservation", err, store.ErrNotFound)

	got, err := s.LiveIntent(ctx(t), "req-1")
	if err != nil || got.Serial.Cmp(first) != 0 || got.State != store.IntentPending || got.Profile != "qes-person" {
		t.Fatalf("LiveIntent = %+v, %v", got, err)
	}
	sameTime(t, "intent created_at", got.CreatedAt, base)
	pend, err := s.PendingIntents(ctx(t))
	if err != nil || len(pend) != 1 {
		t.Fatalf("PendingIntents = %v, %v", pend, err)
	}
	byKey, err := s.IntentsBySPKI(ctx(t), got.SPKIHash)
	if err != nil || len(byKey) != 1 || byKey[0].RequestID != "req-1" {
		t.Fatalf("IntentsBySPKI = %v, %v", byKey, err)
	}

	// Abandon it: the request may then get a new intent under a new serial;
	// the old serial stays burned.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.SetIntentState(ctx, "ca-a", first, store.IntentPending, store.IntentAbandoned, base)
	})
	err = s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		return tx.SetIntentState(ctx, "ca-a", first, store.IntentPending, store.IntentIssued, base)
	})
	wantKind(t, "move an intent that is not pending", err, store.ErrNotFound)
	if _, err := s.LiveIntent(ctx(t), "req-1"); err == nil {
		t.Fatal("abandoned intent is still live")
	}
	if byKey, _ := s.IntentsBySPKI(ctx(t), got.SPKIHash); len(byKey) != 0 {
		t.Fatalf("abandoned intent still holds its key: %v", byKey)
	}
	wantKind(t, "burned serial", add(intent("ca-a", first, "req-1", "key-1")), store.ErrDuplicateSerial)
	if err := add(intent("ca-a", second, "req-1", "key-1")); err != nil {
		t.Fatalf("retry after abandon: %v", err)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.SetIntentState(ctx, "ca-a", second, store.IntentPending, store.IntentIssued, base)
	})
	if pend, _ := s.PendingIntents(ctx(t)); len(pend) != 0 {
		t.Fatalf("pending after issue: %v", pend)
	}
	live, err := s.LiveIntent(ctx(t), "req-1")
	if err != nil || live.State != store.IntentIssued || live.Serial.Cmp(second) != 0 {
		t.Fatalf("issued intent = %+v, %v", live, err)
	}
}

// addIntent reserves the intent's serial and writes it, in one transaction.
func addIntent(t *testing.T, s store.Store, in store.IssuanceIntent) error {
	t.Helper()
	return s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		if err := tx.ReserveSerial(ctx, reservation(in.IssuerID, in.Serial)); err != nil {
			return err
		}
		return tx.InsertIntent(ctx, in)
	})
}

func addHolder(t *testing.T, s store.Store, id, issuer string, expires time.Time) {
	t.Helper()
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.InsertHolder(ctx, store.IssuanceHolder{ID: id, IssuerID: issuer, Info: "host pid 1 test",
			StartedAt: base, ExpiresAt: expires})
	})
}

func testHolders(t *testing.T, s store.Store) {
	addCA(t, s, "ca-h")
	addHolder(t, s, "holder-0123456789abcdef", "ca-h", base.Add(time.Minute))
	err := s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		return tx.InsertHolder(ctx, store.IssuanceHolder{ID: "holder-0123456789abcdef", IssuerID: "ca-h", StartedAt: base, ExpiresAt: base})
	})
	wantKind(t, "reused holder id", err, store.ErrExists)
	err = s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		return tx.InsertHolder(ctx, store.IssuanceHolder{ID: "holder-of-no-ca-000000", IssuerID: "ca-none", StartedAt: base, ExpiresAt: base})
	})
	wantKind(t, "holder of an unknown CA", err, store.ErrNotFound)
	h, err := s.GetHolder(ctx(t), "holder-0123456789abcdef")
	if err != nil || h.IssuerID != "ca-h" || h.Info != "host pid 1 test" {
		t.Fatalf("GetHolder = %+v, %v", h, err)
	}
	sameTime(t, "holder started_at", h.StartedAt, base)
	sameTime(t, "holder expires_at", h.ExpiresAt, base.Add(time.Minute))
	if _, err := s.GetHolder(ctx(t), "holder-unknown-00000000"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetHolder of an unknown id: %v", err)
	}

	// A live lease is renewed; one that ran out is not: the holder is gone.
	renew := func(now, until time.Time) error {
		return s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
			return tx.RenewHolder(ctx, "holder-0123456789abcdef", now, until)
		})
	}
	if err := renew(base.Add(30*time.Second), base.Add(2*time.Minute)); err != nil {
		t.Fatalf("renew a live lease: %v", err)
	}
	if h, _ := s.GetHolder(ctx(t), "holder-0123456789abcdef"); !h.ExpiresAt.Equal(micro(base.Add(2 * time.Minute))) {
		t.Fatalf("renewed lease ends %v", h.ExpiresAt)
	}
	wantKind(t, "renew a lease that ran out", renew(base.Add(3*time.Minute), base.Add(4*time.Minute)), store.ErrNotFound)
	err = s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		return tx.RenewHolder(ctx, "holder-unknown-00000000", base, base)
	})
	wantKind(t, "renew an unknown holder", err, store.ErrNotFound)
}

func testStaleIntents(t *testing.T, s store.Store) {
	addCA(t, s, "ca-s")
	addCA(t, s, "ca-other")
	addHolder(t, s, "holder-live-0000000000", "ca-s", base.Add(time.Hour))
	addHolder(t, s, "holder-gone-0000000000", "ca-s", base.Add(time.Minute))
	addHolder(t, s, "holder-othr-0000000000", "ca-other", base.Add(time.Minute))
	live, gone, legacy, other := randSerial(t), randSerial(t), randSerial(t), randSerial(t)
	fp := sha256.Sum256([]byte("request content"))
	for _, in := range []struct {
		serial         *big.Int
		issuer, holder string
	}{{live, "ca-s", "holder-live-0000000000"}, {gone, "ca-s", "holder-gone-0000000000"}, {legacy, "ca-s", ""},
		{other, "ca-other", "holder-othr-0000000000"}} {
		x := intent(in.issuer, in.serial, "req-"+in.serial.Text(16), "key-"+in.serial.Text(16))
		x.HolderID, x.RequestHash = in.holder, fp[:]
		if err := addIntent(t, s, x); err != nil {
			t.Fatalf("InsertIntent: %v", err)
		}
	}
	got, err := s.LiveIntent(ctx(t), "req-"+live.Text(16))
	if err != nil || got.HolderID != "holder-live-0000000000" || string(got.RequestHash) != string(fp[:]) {
		t.Fatalf("holder and request hash do not round-trip: %+v, %v", got, err)
	}
	if got, _ := s.LiveIntent(ctx(t), "req-"+legacy.Text(16)); got.HolderID != "" {
		t.Fatalf("intent without holder reads back holder %q", got.HolderID)
	}

	// Before any lease ran out only the intent without holder is stale.
	stale := func(now time.Time) map[string]bool {
		t.Helper()
		list, err := s.StaleIntents(ctx(t), "ca-s", now)
		if err != nil {
			t.Fatalf("StaleIntents: %v", err)
		}
		out := map[string]bool{}
		for _, in := range list {
			out[in.Serial.Text(16)] = true
		}
		return out
	}
	if got := stale(base); len(got) != 1 || !got[legacy.Text(16)] {
		t.Fatalf("stale at the start: %v", got)
	}
	// At the lease's last instant the holder still holds it.
	if got := stale(base.Add(time.Minute)); len(got) != 1 {
		t.Fatalf("stale at the lease's end: %v", got)
	}
	later := base.Add(2 * time.Minute)
	if got := stale(later); len(got) != 2 || !got[gone.Text(16)] || !got[legacy.Text(16)] {
		t.Fatalf("stale after one lease ran out: %v (the other CA's intent and the live holder's are not)", got)
	}
	abandon := func(serial *big.Int, now time.Time) error {
		return s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
			return tx.AbandonStaleIntent(ctx, "ca-s", serial, now)
		})
	}
	wantKind(t, "abandon the intent of a live holder", abandon(live, later), store.ErrNotFound)
	wantKind(t, "abandon before the lease ran out", abandon(gone, base), store.ErrNotFound)
	if err := abandon(gone, later); err != nil {
		t.Fatalf("abandon a stale intent: %v", err)
	}
	if err := abandon(legacy, base); err != nil {
		t.Fatalf("abandon an intent without holder: %v", err)
	}
	wantKind(t, "abandon twice", abandon(gone, later), store.ErrNotFound)
	if got := stale(later); len(got) != 0 {
		t.Fatalf("stale after abandoning: %v", got)
	}
	// A finished intent is never stale, whatever its holder.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.SetIntentState(ctx, "ca-s", live, store.IntentPending, store.IntentIssued, base)
	})
	if got := stale(base.Add(48 * time.Hour)); len(got) != 0 {
		t.Fatalf("issued intent listed as stale: %v", got)
	}
	wantKind(t, "abandon an issued intent", abandon(live, base.Add(48*time.Hour)), store.ErrNotFound)
	if in, _ := s.LiveIntent(ctx(t), "req-"+live.Text(16)); in.State != store.IntentIssued {
		t.Fatalf("issued intent is now %s", in.State)
	}
}

func testOneLiveIntentPerKey(t *testing.T, s store.Store) {
	addCA(t, s, "ca-k")
	addCA(t, s, "ca-k2")
	first := randSerial(t)
	if err := addIntent(t, s, intent("ca-k", first, "req-k1", "shared-key")); err != nil {
		t.Fatal(err)
	}
	// Another request for the same key, at this CA or another: refused by
	// the database, not only by a look-up.
	for _, issuer := range []string{"ca-k", "ca-k2"} {
		err := addIntent(t, s, intent(issuer, randSerial(t), "req-k2", "shared-key"))
		wantKind(t, "second live intent for one key", err, store.ErrKeyInUse)
		wantKind(t, "ErrKeyInUse is an ErrExists", err, store.ErrExists)
	}
	// The request-id refusal stays distinct.
	err := addIntent(t, s, intent("ca-k", randSerial(t), "req-k1", "another-key"))
	if !errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrKeyInUse) {
		t.Fatalf("second live intent of a request: %v", err)
	}
	// Issued still holds the key; abandoned frees it.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.SetIntentState(ctx, "ca-k", first, store.IntentPending, store.IntentIssued, base)
	})
	wantKind(t, "key of an issued intent", addIntent(t, s, intent("ca-k", randSerial(t), "req-k3", "shared-key")), store.ErrKeyInUse)
	other := randSerial(t)
	if err := addIntent(t, s, intent("ca-k", other, "req-k4", "other-key")); err != nil {
		t.Fatal(err)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.SetIntentState(ctx, "ca-k", other, store.IntentPending, store.IntentAbandoned, base)
	})
	if err := addIntent(t, s, intent("ca-k", randSerial(t), "req-k5", "other-key")); err != nil {
		t.Fatalf("key of an abandoned intent: %v", err)
	}
}

// Two requests for one key written at once: exactly one intent is live.
func testConcurrentSameKey(t *testing.T, s store.Store) {
	addCA(t, s, "ca-c")
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		serial := randSerial(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = addIntent(t, s, intent("ca-c", serial, "req-c-"+serial.Text(16), "contended-key"))
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, store.ErrKeyInUse):
		default:
			t.Errorf("concurrent intent: %v", err)
		}
	}
	h := sha256.Sum256([]byte("contended-key"))
	live, err := s.IntentsBySPKI(ctx(t), h[:])
	if won != 1 || err != nil || len(live) != 1 {
		t.Fatalf("%d of %d concurrent intents for one key won, %d live (%v)", won, n, len(live), err)
	}
}
