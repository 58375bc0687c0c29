package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/store"
)

func appendOne(t *testing.T, s store.Store, i int) store.AuditRecord {
	t.Helper()
	var rec store.AuditRecord
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		var err error
		rec, err = audit.Append(ctx, tx, base.Add(time.Duration(i)*time.Second), audit.Entry{
			Actor: "officer-" + fmt.Sprint(i%3), Action: "test.append", Object: fmt.Sprintf("thing/%d", i),
			Details: map[string]any{"i": i, "name": "Раҳимов", "nested": map[string]any{"z": 1, "a": []int{1, 2}}},
		})
		return err
	})
	return rec
}

func testAuditRolledBack(t *testing.T, s store.Store) {
	boom := errors.New("boom")
	err := s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		if _, err := audit.Append(ctx, tx, base, audit.Entry{Actor: "a", Action: "x"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want boom", err)
	}
	if recs, err := s.AuditRecords(ctx(t), 0, 10); err != nil || len(recs) != 0 {
		t.Fatalf("records after rollback: %d, %v", len(recs), err)
	}
	// The next append starts the chain at 1 with the zero prev_hash.
	rec := appendOne(t, s, 1)
	if rec.Seq != 1 || !bytes.Equal(rec.PrevHash, make([]byte, 32)) {
		t.Errorf("first committed record: seq %d prev %x", rec.Seq, rec.PrevHash)
	}
	rep, err := audit.Verify(ctx(t), s)
	if err != nil || rep.Records != 1 || !bytes.Equal(rep.Head, rec.Hash) {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}

func testAuditPaging(t *testing.T, s store.Store) {
	var made []store.AuditRecord
	for i := range 7 {
		made = append(made, appendOne(t, s, i))
	}
	var seen []store.AuditRecord
	for after := int64(0); ; {
		page, err := s.AuditRecords(ctx(t), after, 3)
		if err != nil {
			t.Fatalf("AuditRecords(%d, 3): %v", after, err)
		}
		if len(page) > 3 {
			t.Fatalf("page of %d records, limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		seen = append(seen, page...)
		after = page[len(page)-1].Seq
	}
	if len(seen) != len(made) {
		t.Fatalf("paged through %d records, appended %d", len(seen), len(made))
	}
	for i, got := range seen {
		want := made[i]
		if got.Seq != want.Seq || got.Actor != want.Actor || got.Action != want.Action || got.Object != want.Object ||
			!bytes.Equal(got.Details, want.Details) || !bytes.Equal(got.PrevHash, want.PrevHash) ||
			!bytes.Equal(got.Hash, want.Hash) || !got.Time.Equal(want.Time) {
			t.Errorf("record %d stored as %+v, appended as %+v", i+1, got, want)
		}
	}
	if string(seen[0].Details) != `{"i":0,"name":"Раҳимов","nested":{"a":[1,2],"z":1}}` {
		t.Errorf("details stored as %s, want canonical JSON", seen[0].Details)
	}
	if _, err := s.AuditRecords(ctx(t), 0, 0); err == nil {
		t.Error("AuditRecords with limit 0 succeeded")
	}
	for _, ps := range []int{1, 3, 7, 100} {
		rep, err := audit.VerifyPaged(ctx(t), s, ps)
		if err != nil || rep.Records != 7 {
			t.Errorf("VerifyPaged(%d) = %+v, %v", ps, rep, err)
		}
	}
}

// Eight writers append at once; the chain lock must queue them so the
// result is one gapless, valid chain.
func testAuditConcurrent(t *testing.T, s store.Store) {
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	start := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			<-start
			for i := range each {
				err := s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
					_, err := audit.Append(ctx, tx, time.Now(), audit.Entry{Actor: fmt.Sprintf("w%d", w),
						Action: "test.concurrent", Object: fmt.Sprint(i)})
					return err
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent append: %v", err)
	}
	rep, err := audit.Verify(ctx(t), s)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Records != writers*each {
		t.Errorf("chain holds %d records, want %d", rep.Records, writers*each)
	}
}
