package ca

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/muhr-pki/muhr/store"
)

// CRLLeaseName is the lease the CRL producers of all muhrd processes share.
const CRLLeaseName = "crl"

// Producer defaults.
const (
	DefaultCRLInterval = 24 * time.Hour
	DefaultCRLPoll     = 15 * time.Second
	// MaxCRLPoll keeps a status change on the CRL within a minute.
	MaxCRLPoll = 60 * time.Second
)

// CRLProducerStore is what the producer needs from the store.
type CRLProducerStore interface {
	CRLStore
	ListCAs(ctx context.Context) ([]store.CA, error)
	LatestCRL(ctx context.Context, issuerID string) (store.CRL, error)
	RevocationState(ctx context.Context, issuerID string) (store.RevocationState, error)
	store.Leases
}

// CRLProducer re-issues the CRLs of every active CA: on a schedule
// (Interval after the last one), before the last one's nextUpdate, and at
// the first poll after a status change. Any number of muhrd processes run
// one; the database lease lets one produce at a time, and the others take
// over when its holder stops renewing (killed, partitioned).
type CRLProducer struct {
	Gen    *CRLGenerator
	Store  CRLProducerStore
	Holder string // unique per process: host, pid and a random part
	// Interval is the schedule (0: DefaultCRLInterval); it must be less
	// than the generator's validities so a CRL is never left to expire.
	Interval time.Duration
	// Poll is how often the revocation state is checked and the lease
	// renewed (0: DefaultCRLPoll, at most MaxCRLPoll).
	Poll time.Duration
	// LeaseTTL is how long the lease lasts unrenewed (0: 3 × Poll).
	LeaseTTL time.Duration
	// CAs limits the producer to these CA ids (empty: every active CA), so
	// a CA whose key is not on this token (an offline root) is left to
	// `muhr crl generate --ca ID` at its ceremony.
	CAs []string
	Log *slog.Logger
	Now func() time.Time

	trigger chan struct{}
	holding bool
	seen    map[string]store.RevocationState
}

func (p *CRLProducer) init() {
	if p.trigger == nil {
		p.trigger = make(chan struct{}, 1)
	}
	if p.seen == nil {
		p.seen = map[string]store.RevocationState{}
	}
}

func (p *CRLProducer) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *CRLProducer) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (p *CRLProducer) poll() time.Duration {
	if p.Poll > 0 {
		return min(p.Poll, MaxCRLPoll)
	}
	return DefaultCRLPoll
}

func (p *CRLProducer) ttl() time.Duration {
	if p.LeaseTTL > 0 {
		return p.LeaseTTL
	}
	return 3 * p.poll()
}

func (p *CRLProducer) interval() time.Duration {
	if p.Interval > 0 {
		return p.Interval
	}
	return DefaultCRLInterval
}

// Trigger asks for a check now rather than at the next poll. It is the hook
// for a status-change feed (store.StatusChangesAfter, when it lands): the
// feed's reader calls it on every change; it never blocks.
func (p *CRLProducer) Trigger() {
	p.init()
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// Run ticks every Poll (and on Trigger) until ctx ends, then gives the lease
// up so another process need not wait for it to expire.
func (p *CRLProducer) Run(ctx context.Context) {
	p.init()
	if p.Holder == "" {
		p.log().Error("crl: producer without a holder id; not running")
		return
	}
	t := time.NewTicker(p.poll())
	defer t.Stop()
	for {
		if _, err := p.Tick(ctx); err != nil && ctx.Err() == nil {
			p.log().Error("crl: producer", "err", err.Error())
		}
		select {
		case <-ctx.Done():
			if p.holding {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				if err := p.Store.ReleaseLease(rctx, CRLLeaseName, p.Holder); err != nil {
					p.log().Warn("crl: release lease", "err", err.Error())
				}
				cancel()
			}
			return
		case <-t.C:
		case <-p.trigger:
		}
	}
}

// Tick is one round: take or renew the lease and, if this process holds
// it, produce every CRL that is due. It returns the CRLs it made.
func (p *CRLProducer) Tick(ctx context.Context) ([]CRLResult, error) {
	p.init()
	ok, err := p.Store.AcquireLease(ctx, CRLLeaseName, p.Holder, p.now(), p.ttl())
	if err != nil {
		return nil, err
	}
	if !ok {
		if p.holding {
			p.log().Warn("crl: lease lost to another process", "holder", p.Holder)
		}
		p.holding = false
		return nil, nil
	}
	if !p.holding {
		// A new holder does not know which changes its predecessor had
		// published (a hold lifted leaves no time behind): it makes every
		// CRL once.
		p.log().Info("crl: producing (lease taken)", "holder", p.Holder)
		clear(p.seen)
		p.holding = true
	}
	cas, err := p.Store.ListCAs(ctx)
	if err != nil {
		return nil, err
	}
	var made []CRLResult
	var errs []error
	for _, c := range cas {
		if c.Status != store.CAStatusActive || len(p.CAs) > 0 && !slices.Contains(p.CAs, c.ID) {
			continue
		}
		res, err := p.produce(ctx, c.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if res != nil {
			made = append(made, *res)
		}
	}
	return made, errors.Join(errs...)
}

func (p *CRLProducer) produce(ctx context.Context, caID string) (*CRLResult, error) {
	st, err := p.Store.RevocationState(ctx, caID)
	if err != nil {
		return nil, err
	}
	why := ""
	latest, err := p.Store.LatestCRL(ctx, caID)
	now := p.now()
	switch prev, known := p.seen[caID]; {
	case errors.Is(err, store.ErrNotFound):
		why = "none yet"
	case err != nil:
		return nil, err
	case !known:
		why = "new lease holder"
	case prev != st:
		why = "status changed"
	case !now.Before(latest.ThisUpdate.Add(p.interval())):
		why = "scheduled"
	case !now.Before(latest.NextUpdate.Add(-p.ttl())):
		why = "nextUpdate near"
	default:
		return nil, nil
	}
	// Renew before the work, so the lease outlives a long CRL.
	if ok, err := p.Store.AcquireLease(ctx, CRLLeaseName, p.Holder, now, p.ttl()); err != nil || !ok {
		p.holding = false
		return nil, fmt.Errorf("crl: lease of %s lost before producing %s: %v", p.Holder, caID, err)
	}
	start := time.Now()
	res, err := p.Gen.Generate(ctx, caID)
	if err != nil {
		return nil, err
	}
	p.seen[caID] = st
	p.log().Info("crl: issued", "ca", caID, "number", res.Number.String(), "entries", res.Entries, "reason", why,
		"bytes", len(res.DER), "next_update", res.NextUpdate, "took", time.Since(start).Round(time.Millisecond))
	return &res, nil
}
