package storetest

import (
	"context"
	"errors"
	"math/big"
	"sync"
	"testing"

	"github.com/muhr-pki/muhr/store"
)

func testReserveSerial(t *testing.T, s store.Store) {
	addCA(t, s, "ca-a")
	addCA(t, s, "ca-b")
	serial := randSerial(t)
	reserve := func(issuer string, n *big.Int) error {
		return s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
			return tx.ReserveSerial(ctx, reservation(issuer, n))
		})
	}
	if err := reserve("ca-a", serial); err != nil {
		t.Fatalf("ReserveSerial: %v", err)
	}
	wantKind(t, "same serial again", reserve("ca-a", new(big.Int).Set(serial)), store.ErrDuplicateSerial)
	if err := reserve("ca-b", serial); err != nil {
		t.Errorf("the same serial under another issuer: %v", err)
	}
	wantKind(t, "unknown issuer", reserve("no-such-ca", randSerial(t)), store.ErrNotFound)

	// Inside one transaction the second reservation fails too, and the
	// failure rolls back the first.
	fresh := randSerial(t)
	err := s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		if err := tx.ReserveSerial(ctx, reservation("ca-a", fresh)); err != nil {
			return err
		}
		return tx.ReserveSerial(ctx, reservation("ca-a", fresh))
	})
	wantKind(t, "same serial twice in one tx", err, store.ErrDuplicateSerial)
	if err := reserve("ca-a", fresh); err != nil {
		t.Errorf("serial of a rolled-back reservation: %v", err)
	}

	for _, n := range []*big.Int{nil, big.NewInt(0), big.NewInt(-5), new(big.Int).Lsh(big.NewInt(1), 160)} {
		if err := reserve("ca-a", n); err == nil {
			t.Errorf("serial %v was accepted", n)
		}
	}
}

// Two transactions reserve the same serial at the same time: the database,
// not a check in Go, must let exactly one through.
func testConcurrentReserve(t *testing.T, s store.Store) {
	addCA(t, s, "ca-a")
	for round := range 5 {
		serial := randSerial(t)
		start := make(chan struct{})
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				<-start
				errs[i] = s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
					return tx.ReserveSerial(ctx, reservation("ca-a", serial))
				})
			})
		}
		close(start)
		wg.Wait()
		won, dup := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, store.ErrDuplicateSerial):
				dup++
			default:
				t.Errorf("round %d: unexpected error %v", round, err)
			}
		}
		if won != 1 || dup != 1 {
			t.Fatalf("round %d: %d won, %d refused as duplicate; want exactly one of each", round, won, dup)
		}
	}
}

func testSerial159Bits(t *testing.T, s store.Store) {
	addCA(t, s, "ca-a")
	top := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 159), big.NewInt(1)) // 2^159-1
	high := new(big.Int).Lsh(big.NewInt(1), 158)                                 // 159 bits
	// Serials equal in their low 64 bits must not collide.
	highLow := new(big.Int).Add(high, big.NewInt(1))
	serials := []*big.Int{top, high, highLow, big.NewInt(1), new(big.Int).Lsh(big.NewInt(1), 64), randSerial(t)}
	for _, n := range serials {
		issue(t, s, "ca-a", n)
	}
	for _, n := range serials {
		c, err := s.GetCertificate(ctx(t), "ca-a", n)
		if err != nil {
			t.Fatalf("GetCertificate(%x): %v", n, err)
		}
		if c.Serial.Cmp(n) != 0 {
			t.Errorf("serial %x came back as %x", n, c.Serial)
		}
	}
	if top.BitLen() != 159 {
		t.Fatalf("test bug: %d bits", top.BitLen())
	}
}

func testCertificateNeedsReservation(t *testing.T, s store.Store) {
	addCA(t, s, "ca-a")
	addCA(t, s, "ca-b")
	serial := randSerial(t)
	insert := func(issuer string) error {
		return s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
			return tx.InsertCertificate(ctx, certificate(t, issuer, serial))
		})
	}
	wantKind(t, "certificate without reservation", insert("ca-a"), store.ErrNotFound)
	// A reservation under another issuer does not count.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.ReserveSerial(ctx, reservation("ca-b", serial))
	})
	wantKind(t, "certificate reserved under another issuer", insert("ca-a"), store.ErrNotFound)
	_, err := s.GetCertificate(ctx(t), "ca-a", serial)
	wantKind(t, "GetCertificate after refused inserts", err, store.ErrNotFound)
	if err := insert("ca-b"); err != nil {
		t.Fatalf("certificate with its reservation: %v", err)
	}
}
