package storetest

import (
	"bytes"
	"context"
	"testing"

	"github.com/muhr-pki/muhr/store"
)

func testMigrateTwice(t *testing.T, s store.Store) {
	ca := addCA(t, s, "root-a")
	// openMigrated already migrated once.
	if err := s.Migrate(ctx(t)); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if _, err := s.GetCA(ctx(t), ca.ID); err != nil {
		t.Fatalf("after second Migrate: %v", err)
	}
}

func sameCA(t *testing.T, got, want store.CA) {
	t.Helper()
	if got.ID != want.ID || got.Kind != want.Kind || got.ParentID != want.ParentID || got.KeyLabel != want.KeyLabel ||
		!bytes.Equal(got.CertDER, want.CertDER) || got.Status != want.Status {
		t.Errorf("CA = %+v, want %+v", got, want)
	}
	sameTime(t, "CA "+want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
}

func testCA(t *testing.T, s store.Store) {
	root := rootCA(t, "root-a")
	issuing := store.CA{ID: "qca-a", Kind: store.CAKindIssuing, ParentID: root.ID, KeyLabel: "qca-a-key",
		CertDER: randBytes(t, 80), Status: store.CAStatusActive, CreatedAt: base.Add(1)}
	mgmt := rootCA(t, "mgmt-a")
	mgmt.Kind, mgmt.CreatedAt = store.CAKindManagement, base.AddDate(0, 0, 1)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, ca := range []store.CA{root, issuing, mgmt} {
			if err := tx.InsertCA(ctx, ca); err != nil {
				return err
			}
		}
		// Reads inside the transaction see its own writes.
		_, err := tx.GetCA(ctx, issuing.ID)
		return err
	})
	got, err := s.GetCA(ctx(t), issuing.ID)
	if err != nil {
		t.Fatalf("GetCA: %v", err)
	}
	sameCA(t, got, issuing)
	if got, err = s.GetCA(ctx(t), root.ID); err != nil {
		t.Fatalf("GetCA root: %v", err)
	}
	sameCA(t, got, root)

	list, err := s.ListCAs(ctx(t))
	if err != nil {
		t.Fatalf("ListCAs: %v", err)
	}
	if len(list) != 3 {
		t.Fatalf("ListCAs returned %d CAs, want 3", len(list))
	}
	// Ordered by creation time (root and issuing differ by a nanosecond,
	// which truncates away; then by id).
	for i, want := range []store.CA{issuing, root, mgmt} {
		sameCA(t, list[i], want)
	}

	dup := rootCA(t, root.ID)
	err = s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error { return tx.InsertCA(ctx, dup) })
	wantKind(t, "duplicate CA id", err, store.ErrExists)
	if got, _ := s.GetCA(ctx(t), root.ID); !bytes.Equal(got.CertDER, root.CertDER) {
		t.Error("duplicate insert changed the stored CA")
	}

	orphan := rootCA(t, "orphan")
	orphan.ParentID = "no-such-ca"
	err = s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error { return tx.InsertCA(ctx, orphan) })
	wantKind(t, "CA with unknown parent", err, store.ErrNotFound)

	_, err = s.GetCA(ctx(t), "no-such-ca")
	wantKind(t, "GetCA of unknown id", err, store.ErrNotFound)

	bad := rootCA(t, "bad-status")
	bad.Status = "sleeping"
	if err := s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error { return tx.InsertCA(ctx, bad) }); err == nil {
		t.Error("a CA with status \"sleeping\" was accepted; the schema should refuse it")
	}
}
