package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/store"
)

// writeAll makes one of each kind of row inside tx.
func writeAll(ctx context.Context, t *testing.T, tx store.Tx) (store.Certificate, error) {
	if err := tx.InsertCA(ctx, rootCA(t, "ca-a")); err != nil {
		return store.Certificate{}, err
	}
	c := certificate(t, "ca-a", randSerial(t))
	if err := tx.ReserveSerial(ctx, reservation("ca-a", c.Serial)); err != nil {
		return c, err
	}
	if err := tx.InsertCertificate(ctx, c); err != nil {
		return c, err
	}
	if _, err := audit.Append(ctx, tx, base, audit.Entry{Actor: "test", Action: "cert.issue", Object: "cert"}); err != nil {
		return c, err
	}
	return c, nil
}

// nothingStored checks that no row of writeAll survived.
func nothingStored(t *testing.T, s store.Store) {
	t.Helper()
	if _, err := s.GetCA(ctx(t), "ca-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CA after rollback: err = %v, want ErrNotFound", err)
	}
	if cas, err := s.ListCAs(ctx(t)); err != nil || len(cas) != 0 {
		t.Errorf("ListCAs after rollback = %d CAs, %v", len(cas), err)
	}
	if recs, err := s.AuditRecords(ctx(t), 0, 10); err != nil || len(recs) != 0 {
		t.Errorf("audit records after rollback = %d, %v", len(recs), err)
	}
}

func testRollbackOnError(t *testing.T, s store.Store) {
	boom := errors.New("boom")
	var c store.Certificate
	err := s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		var err error
		if c, err = writeAll(ctx, t, tx); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx returned %v, want fn's error", err)
	}
	nothingStored(t, s)
	// The CA id and serial are free again: nothing half-written blocks them.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.InsertCA(ctx, rootCA(t, "ca-a")); err != nil {
			return err
		}
		return tx.ReserveSerial(ctx, reservation("ca-a", c.Serial))
	})
}

func testRollbackOnPanic(t *testing.T, s store.Store) {
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic in fn did not reach the caller")
			}
		}()
		_ = s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
			if _, err := writeAll(ctx, t, tx); err != nil {
				t.Errorf("writeAll: %v", err)
			}
			panic("in the middle of a transaction")
		})
	}()
	nothingStored(t, s)
	// The connection went back to the pool usable, without the lock held.
	addCA(t, s, "ca-a")
}

func testTimesRoundTrip(t *testing.T, s store.Store) {
	times := []time.Time{
		base,
		time.Date(1950, 1, 1, 0, 0, 0, 999, time.UTC), // UTCTime's first year, before the epoch
		time.Date(2049, 12, 31, 23, 59, 59, 999999999, time.FixedZone("X", -7*3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), // RFC 5280's "no expiry"
		time.Unix(0, 0),
	}
	addCA(t, s, "ca-a")
	for i, tm := range times {
		c := certificate(t, "ca-a", randSerial(t))
		c.NotBefore, c.NotAfter = tm, tm
		c.Status, c.RevokedAt = store.CertStatusOnHold, &tm
		reason := 6
		c.RevocationReason = &reason
		var rec store.AuditRecord
		inTx(t, s, func(ctx context.Context, tx store.Tx) error {
			r := reservation("ca-a", c.Serial)
			r.ReservedAt = tm
			if err := tx.ReserveSerial(ctx, r); err != nil {
				return err
			}
			var err error
			rec, err = audit.Append(ctx, tx, tm, audit.Entry{Actor: "test", Action: "time"})
			if err != nil {
				return err
			}
			return tx.InsertCertificate(ctx, c)
		})
		got, err := s.GetCertificate(ctx(t), "ca-a", c.Serial)
		if err != nil {
			t.Fatalf("#%d: %v", i, err)
		}
		sameCert(t, got, c)
		sameTime(t, "Append's record time", rec.Time, tm)
		recs, err := s.AuditRecords(ctx(t), int64(i), 1)
		if err != nil || len(recs) != 1 {
			t.Fatalf("#%d: AuditRecords = %d, %v", i, len(recs), err)
		}
		sameTime(t, "stored audit time", recs[0].Time, tm)
	}
	if _, err := audit.Verify(ctx(t), s); err != nil {
		t.Errorf("Verify after round trips: %v", err)
	}
}
