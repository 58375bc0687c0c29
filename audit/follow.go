package audit

import (
	"bytes"
	"context"
	"fmt"

	"github.com/muhr-pki/muhr/store"
)

// RecordReader reads the chain a page at a time (store.Reader has it).
type RecordReader interface {
	AuditRecords(ctx context.Context, afterSeq int64, limit int) ([]store.AuditRecord, error)
}

// Follow checks that the chain still holds from (the record at from.Seq
// has from.Hash; from.Seq 0 is the empty log) and that every record after it
// links correctly, reading pageSize records per query, and returns the
// newest head. A checkpoint writer follows the chain from its previous
// checkpoint this way, so it never signs a head that does not extend what
// it signed before.
func Follow(ctx context.Context, r RecordReader, from Head, pageSize int) (Head, error) {
	if pageSize <= 0 {
		return Head{}, fmt.Errorf("audit: page size %d must be positive", pageSize)
	}
	prev := make([]byte, HashSize)
	seq := from.Seq
	if seq > 0 {
		page, err := r.AuditRecords(ctx, seq-1, 1)
		if err != nil {
			return Head{}, fmt.Errorf("audit: read record %d: %w", seq, err)
		}
		if len(page) == 0 || page[0].Seq != seq {
			end, err := lastBelow(ctx, r, seq)
			if err != nil {
				return Head{}, err
			}
			return Head{}, &HeadError{Want: from, Records: end}
		}
		if !bytes.Equal(page[0].Hash, from.Hash) {
			return Head{}, &HeadError{Want: from, Records: seq, Got: page[0].Hash}
		}
		prev = page[0].Hash
	}
	for {
		page, err := r.AuditRecords(ctx, seq, pageSize)
		if err != nil {
			return Head{}, fmt.Errorf("audit: read records after %d: %w", seq, err)
		}
		for _, rec := range page {
			if err := check(rec, seq+1, prev); err != nil {
				return Head{}, err
			}
			seq, prev = rec.Seq, rec.Hash
		}
		if len(page) < pageSize {
			if seq == 0 {
				return Head{}, nil
			}
			return Head{Seq: seq, Hash: prev}, nil
		}
	}
}

// lastBelow is the newest seq below limit that the chain holds, by
// bisection (0 for an empty log).
func lastBelow(ctx context.Context, r RecordReader, limit int64) (int64, error) {
	lo, hi := int64(0), limit
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		page, err := r.AuditRecords(ctx, mid-1, 1)
		if err != nil {
			return 0, fmt.Errorf("audit: read record %d: %w", mid, err)
		}
		if len(page) > 0 && page[0].Seq == mid {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}
