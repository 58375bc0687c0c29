package ra

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/store"
)

// MaxAuditPage bounds one page of the audit log.
const MaxAuditPage = 1000

// Audit returns up to limit records after afterSeq, from since on.
func (s *Service) Audit(ctx context.Context, who store.Officer, since time.Time, afterSeq int64, limit int) (AuditPage, error) {
	if err := s.authorize(ctx, who, ActAuditRead, "audit"); err != nil {
		return AuditPage{}, err
	}
	if limit <= 0 || limit > MaxAuditPage {
		limit = 100
	}
	if afterSeq < 0 {
		return AuditPage{}, fieldErr("after_seq", "must not be negative")
	}
	page := AuditPage{Records: []AuditRecord{}, NextAfterSeq: afterSeq}
	// Records are in time order (appended under the chain's lock), so the
	// first page at or after since is found by walking; pages are large.
	for len(page.Records) < limit {
		recs, err := s.st.AuditRecords(ctx, page.NextAfterSeq, MaxAuditPage)
		if err != nil {
			return AuditPage{}, err
		}
		if len(recs) == 0 {
			// The end of the chain: next_after_seq 0 tells the client to
			// stop. It must not be told to ask again: every read is itself
			// audited, so the next page would always hold one more record
			// (the read before it) and a client paging to the end would
			// never stop.
			page.NextAfterSeq = 0
			break
		}
		for _, r := range recs {
			if len(page.Records) == limit {
				break
			}
			page.NextAfterSeq = r.Seq
			if r.Time.Before(since) {
				continue
			}
			page.Records = append(page.Records, AuditRecord{Seq: r.Seq, Time: r.Time, Actor: r.Actor, Action: r.Action, Subject: r.Object,
				Details: r.Details, Hash: hex.EncodeToString(r.Hash)})
		}
	}
	return page, nil
}

// VerifyAudit checks the chain and what it vouches for (audit.Check) in
// one snapshot.
func (s *Service) VerifyAudit(ctx context.Context, who store.Officer) (AuditVerification, error) {
	if err := s.authorize(ctx, who, ActAuditVerify, "audit"); err != nil {
		return AuditVerification{}, err
	}
	var rep audit.Report
	var cerr error
	err := s.st.ReadSnapshot(ctx, func(ctx context.Context, r store.Reader) error {
		rep, cerr = audit.Check(ctx, r, audit.Options{})
		return nil
	})
	if err != nil {
		return AuditVerification{}, err
	}
	v := AuditVerification{OK: cerr == nil, Records: rep.Records, Head: hex.EncodeToString(rep.Head), Problems: []string{},
		Certificates: rep.Certificates}
	if cerr != nil {
		if !errors.Is(cerr, audit.ErrChainBroken) && !errors.Is(cerr, audit.ErrMismatch) {
			return AuditVerification{}, fmt.Errorf("ra: audit check: %w", cerr)
		}
		v.Problems = append(v.Problems, cerr.Error())
	}
	return v, nil
}
