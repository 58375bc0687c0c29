package checkpoint

import (
	"bytes"
	"context"
	"fmt"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/store"
)

// ErrChainMismatch is what every *ChainMismatch matches with errors.Is.
var ErrChainMismatch = errkind.New(errkind.Internal, "audit: chain does not match a checkpoint")

// ChainMismatch says the database's chain does not hold a checkpointed
// head: it ends before it (the newest records were removed) or its record
// at that seq has another hash (the chain was rewritten).
type ChainMismatch struct {
	File     *File
	ChainEnd int64  // the chain's newest seq below File.Seq, when it is shorter
	Got      []byte // the chain's hash at File.Seq; nil when the chain is shorter
}

func (e *ChainMismatch) Error() string {
	f := e.File
	when := fmt.Sprintf("checkpoint %d (%s, timestamped %s)", f.Number, fileName(f.Number), f.TSAGenTime.Format("2006-01-02T15:04:05Z07:00"))
	if e.Got == nil {
		missing := fmt.Sprintf("records %d..%d are missing", e.ChainEnd+1, f.Seq)
		if e.ChainEnd+1 == f.Seq {
			missing = fmt.Sprintf("record %d is missing", f.Seq)
		}
		return fmt.Sprintf("audit: %s vouches for record %d (sha256 %s), but the chain in the database ends at record %d: %s (records were deleted)",
			when, f.Seq, f.Hash, e.ChainEnd, missing)
	}
	return fmt.Sprintf("audit: %s vouches for record %d with sha256 %s, but the database's record %d has sha256 %x: the chain was rewritten",
		when, f.Seq, f.Hash, f.Seq, e.Got)
}

// Is makes errors.Is(err, ErrChainMismatch) true.
func (e *ChainMismatch) Is(target error) bool { return target == ErrChainMismatch }

// CheckChain checks that the chain read by r holds every checkpoint's
// head, and returns the first checkpoint it does not hold as a
// *ChainMismatch. It reads one record per checkpoint (and, for a chain cut
// short, a few more to find where it ends); the links between records are
// audit.Check's job, run in the same snapshot.
func CheckChain(ctx context.Context, r audit.RecordReader, files []*File) error {
	for _, f := range files {
		h, err := f.Head()
		if err != nil {
			return fmt.Errorf("%s: %w", fileName(f.Number), err)
		}
		rec, ok, err := recordAt(ctx, r, h.Seq)
		if err != nil {
			return err
		}
		if !ok {
			end, err := chainEnd(ctx, r, h.Seq)
			if err != nil {
				return err
			}
			return &ChainMismatch{File: f, ChainEnd: end}
		}
		if !bytes.Equal(rec.Hash, h.Hash) {
			return &ChainMismatch{File: f, Got: rec.Hash}
		}
	}
	return nil
}

func recordAt(ctx context.Context, r audit.RecordReader, seq int64) (store.AuditRecord, bool, error) {
	page, err := r.AuditRecords(ctx, seq-1, 1)
	if err != nil {
		return store.AuditRecord{}, false, fmt.Errorf("audit: read record %d: %w", seq, err)
	}
	if len(page) == 0 || page[0].Seq != seq {
		return store.AuditRecord{}, false, nil
	}
	return page[0], true, nil
}

// chainEnd is the newest seq below limit that the chain holds, found by
// bisection (seqs are gapless in a chain that Check passes).
func chainEnd(ctx context.Context, r audit.RecordReader, limit int64) (int64, error) {
	lo, hi := int64(0), limit // record lo exists (0: trivially), record hi does not
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		_, ok, err := recordAt(ctx, r, mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}
