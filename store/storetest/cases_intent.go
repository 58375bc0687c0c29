package storetest

import (
	"context"
	"crypto/sha256"
	"math/big"
	"testing"

	"github.com/muhr-pki/muhr/store"
)

func intent(issuer string, serial *big.Int, request string, key string) store.IssuanceIntent {
	h := sha256.Sum256([]byte(key))
	return store.IssuanceIntent{IssuerID: issuer, Serial: serial, RequestID: request, Profile: "qes-person",
		SPKIHash: h[:], State: store.IntentPending, CreatedAt: base, UpdatedAt: base}
}

func testIntents(t *testing.T, s store.Store) {
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
