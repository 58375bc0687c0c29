package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

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

// Report is the outcome of a successful Verify or Check (as far as it got,
// with an error).
type Report struct {
	// Records is the number of records, and the newest one's seq.
	Records int64
	// Head is the hash of the newest record (nil for an empty log). The
	// chain cannot show that its newest records were rewritten or cut off;
	// comparing Head with a copy kept elsewhere can (Options.Expect).
	Head []byte
	// What Check compared with the chain.
	Certificates  int64 // certificate rows
	StatusChanges int64 // status-change records
	TSATokens     int64 // ledger rows
	LedgerBatches int64 // tsa.ledger.batch records
}

// Newest is the head as a Head (seq 0 and no hash for an empty log).
func (r Report) Newest() Head { return Head{Seq: r.Records, Hash: r.Head} }

// Head names one record of the chain by seq and hash: what an auditor
// keeps outside the database after a run, to check the next run against.
type Head struct {
	Seq  int64
	Hash []byte
}

// String is the form ParseHead reads: "SEQ:HEX".
func (h Head) String() string { return fmt.Sprintf("%d:%x", h.Seq, h.Hash) }

// ErrBadHead is ParseHead's error.
var ErrBadHead = errkind.New(errkind.Invalid, "audit: bad head")

// ParseHead reads "SEQ:HEX" (HEX the record's SHA-256, 64 hex digits).
func ParseHead(s string) (Head, error) {
	seqText, hexText, ok := strings.Cut(strings.TrimSpace(s), ":")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if !ok || err != nil || seq <= 0 {
		return Head{}, fmt.Errorf("%w %q: want SEQ:HEX with SEQ a record number (1 or more)", ErrBadHead, s)
	}
	h, err := hex.DecodeString(hexText)
	if err != nil || len(h) != HashSize {
		return Head{}, fmt.Errorf("%w %q: want SEQ:HEX with HEX the record's SHA-256 (64 hex digits)", ErrBadHead, s)
	}
	return Head{Seq: seq, Hash: h}, nil
}

// ErrHeadMismatch is what every *HeadError matches with errors.Is.
var ErrHeadMismatch = errkind.New(errkind.Internal, "audit: chain does not match the kept head")

// HeadError says the chain does not hold the kept head: it is shorter (its
// newest records were removed) or its record at that seq has another hash
// (the records up to it were rewritten, hashes and all).
type HeadError struct {
	Want    Head
	Records int64  // the chain's length, or the seq of the record that differs
	Got     []byte // that record's hash; nil when the chain is shorter
}

func (e *HeadError) Error() string {
	if e.Got == nil {
		return fmt.Sprintf("audit: chain ends at record %d, before the kept head (record %d): records were removed", e.Records, e.Want.Seq)
	}
	return fmt.Sprintf("audit: record %d has hash %x, the kept head says %x: the chain was rewritten", e.Want.Seq, e.Got, e.Want.Hash)
}

// Is makes errors.Is(err, ErrHeadMismatch) true.
func (e *HeadError) Is(target error) bool { return target == ErrHeadMismatch }

// DefaultPageSize is how many records Verify reads per query.
const DefaultPageSize = 1000

// Verify walks the whole chain and returns a *ChainError for the first
// record whose sequence number, prev_hash or hash does not match.
func Verify(ctx context.Context, r store.Reader) (Report, error) {
	return VerifyPaged(ctx, r, DefaultPageSize)
}

// VerifyPaged is Verify reading pageSize records per query.
func VerifyPaged(ctx context.Context, r store.Reader, pageSize int) (Report, error) {
	return walkChain(ctx, r, pageSize, nil, nil)
}

// walkChain verifies the chain a page at a time, checks the record at
// expect's seq (when expect is set) and hands each verified record to visit
// (when set).
func walkChain(ctx context.Context, r store.Reader, pageSize int, expect *Head,
	visit func(context.Context, store.AuditRecord) error) (Report, error) {
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
			if expect != nil && rec.Seq == expect.Seq && !bytes.Equal(rec.Hash, expect.Hash) {
				return rep, &HeadError{Want: *expect, Records: rec.Seq, Got: rec.Hash}
			}
			seq, prev = rec.Seq, rec.Hash
			rep.Records++
			rep.Head = rec.Hash
			if visit != nil {
				if err := visit(ctx, rec); err != nil {
					return rep, err
				}
			}
		}
		if len(page) < pageSize {
			if expect != nil && seq < expect.Seq {
				return rep, &HeadError{Want: *expect, Records: seq}
			}
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
