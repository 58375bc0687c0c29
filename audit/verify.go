package audit

import (
	"bytes"
	"context"
	"fmt"

	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/store"
)

// ErrChainBroken is what every *ChainError matches with errors.Is.
var ErrChainBroken = errkind.New(errkind.Internal, "audit: chain broken")

// ChainError names the first record that does not fit the chain.
type ChainError struct {
	Seq    int64 // the record's stored seq
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit: chain broken at record %d: %s", e.Seq, e.Reason)
}

// Is makes errors.Is(err, ErrChainBroken) true.
func (e *ChainError) Is(target error) bool { return target == ErrChainBroken }

// Report is the outcome of a successful Verify.
type Report struct {
	Records int64
	// Head is the hash of the newest record (nil for an empty log). The
	// chain cannot show that its newest records were rewritten or cut off;
	// comparing Head with a copy kept elsewhere can.
	Head []byte
}

// DefaultPageSize is how many records Verify reads per query.
const DefaultPageSize = 1000

// Verify walks the whole chain and returns a *ChainError for the first
// record whose sequence number, prev_hash or hash does not match.
func Verify(ctx context.Context, r store.Reader) (Report, error) {
	return VerifyPaged(ctx, r, DefaultPageSize)
}

// VerifyPaged is Verify reading pageSize records per query.
func VerifyPaged(ctx context.Context, r store.Reader, pageSize int) (Report, error) {
	if pageSize <= 0 {
		return Report{}, fmt.Errorf("audit: page size %d must be positive", pageSize)
	}
	var rep Report
	prev := make([]byte, HashSize)
	var seq int64
	for {
		page, err := r.AuditRecords(ctx, seq, pageSize)
		if err != nil {
			return rep, fmt.Errorf("audit: read records after %d: %w", seq, err)
		}
		for _, rec := range page {
			if err := check(rec, seq+1, prev); err != nil {
				return rep, err
			}
			seq, prev = rec.Seq, rec.Hash
			rep.Records++
			rep.Head = rec.Hash
		}
		if len(page) < pageSize {
			return rep, nil
		}
	}
}

func check(rec store.AuditRecord, wantSeq int64, prev []byte) error {
	switch {
	case rec.Seq != wantSeq:
		return &ChainError{Seq: rec.Seq, Reason: fmt.Sprintf("expected record %d here (records missing or renumbered)", wantSeq)}
	case !bytes.Equal(rec.PrevHash, prev):
		return &ChainError{Seq: rec.Seq, Reason: fmt.Sprintf("prev_hash %x does not match the previous record's hash %x", rec.PrevHash, prev)}
	}
	if h := Hash(rec); !bytes.Equal(rec.Hash, h) {
		return &ChainError{Seq: rec.Seq, Reason: fmt.Sprintf("stored hash %x does not match its contents (%x): the record was changed", rec.Hash, h)}
	}
	return nil
}
