package audit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/store"
)

// chain is an in-memory audit log.
type chain []store.AuditRecord

func (c chain) AuditRecords(_ context.Context, after int64, limit int) ([]store.AuditRecord, error) {
	var out []store.AuditRecord
	for _, r := range c {
		if r.Seq > after && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func sealN(t *testing.T, n int) chain {
	t.Helper()
	var c chain
	var last *store.AuditRecord
	for i := range n {
		r, err := audit.Seal(last, time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC), audit.Entry{Actor: "t", Action: "x", Object: "o", Details: map[string]int{"i": i}})
		if err != nil {
			t.Fatal(err)
		}
		c = append(c, r)
		last = &c[len(c)-1]
	}
	return c
}

// Follow returns the newest head of a chain that extends the given one,
// and names where a chain that does not ends or differs.
func TestFollow(t *testing.T) {
	ctx := context.Background()
	c := sealN(t, 10)
	h, err := audit.Follow(ctx, c, audit.Head{}, 3)
	if err != nil || h.Seq != 10 {
		t.Fatalf("from nothing: %v %v", h, err)
	}
	from := audit.Head{Seq: 4, Hash: c[3].Hash}
	if h, err := audit.Follow(ctx, c, from, 3); err != nil || h.Seq != 10 {
		t.Fatalf("from 4: %v %v", h, err)
	}
	var he *audit.HeadError
	if _, err := audit.Follow(ctx, c[:2], from, 3); !errors.As(err, &he) || he.Records != 2 || he.Got != nil {
		t.Fatalf("cut at 2: %v", err)
	}
	if _, err := audit.Follow(ctx, c, audit.Head{Seq: 4, Hash: c[4].Hash}, 3); !errors.As(err, &he) || he.Got == nil || he.Records != 4 {
		t.Fatalf("another hash: %v", err)
	}
	bad := append(chain{}, c...)
	bad[6].Actor = "changed"
	if _, err := audit.Follow(ctx, bad, from, 3); !errors.Is(err, audit.ErrChainBroken) {
		t.Fatalf("changed record 7: %v", err)
	}
}
