package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/store"
)

// crlConfigured keeps the ca role off unless crl.enabled: the role logs in
// to the token for the CA keys, which a default muhrd must not do unasked.
func crlConfigured(c *config.Config) error {
	if !c.CRL.Enabled {
		return fmt.Errorf("crl.enabled is false in muhrd.yaml (the ca role produces CRLs; its issuance comes with the Officers issue)")
	}
	if err := c.CRL.Validate(); err != nil {
		return err
	}
	return c.Revocation.Validate()
}

// mountCA runs the CRL producer of the ca role. Every muhrd with the role
// runs one; the "crl" lease in the database lets one of them produce, and
// another takes over when its holder stops renewing. The CRLs are served
// by the repository role from the store, so every muhrd serves the latest.
// The CAs whose keys are on the token are produced for, and their keys
// show in health; an active CA without its key is named in a warning.
func mountCA(ctx context.Context, e *edge) error {
	c := e.cfg.CRL.Effective()
	cas, err := e.store.ListCAs(ctx)
	if err != nil {
		return err
	}
	var ids []string
	for _, row := range cas {
		if row.Status != store.CAStatusActive {
			continue
		}
		if _, err := e.keys.Signer(ctx, row.KeyLabel); err != nil {
			// An offline root's key is not on the online token: its CRL is
			// made at its ceremony with muhr crl generate --ca.
			e.log.Warn("crl: CA key not on this token; its CRL is not produced here", "ca", row.ID, "key", row.KeyLabel, "err", err.Error())
			continue
		}
		e.useKey(row.KeyLabel)
		ids = append(ids, row.ID)
	}
	if len(ids) == 0 {
		return fmt.Errorf("no active CA has its key on token %s", e.cfg.HSM.TokenLabel)
	}
	holder, err := holderID()
	if err != nil {
		return err
	}
	log := e.log.With("role", "ca")
	p := &ca.CRLProducer{
		Gen:   &ca.CRLGenerator{Store: e.store, Keys: e.keys, Validity: c.Validity, RootValidity: c.RootValidity, Actor: "muhrd"},
		Store: e.store, Holder: holder, Interval: c.Interval, Poll: c.Poll, LeaseTTL: e.cfg.CRL.LeaseTTL(), CAs: ids, Log: log,
	}
	head, err := e.store.LatestStatusChangeSeq(ctx)
	if err != nil {
		return fmt.Errorf("crl: status feed: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(e.svc)
	}()
	if err := startRevocationJobs(ctx, e, ids, holder); err != nil {
		return err
	}
	// A status change committed by any process triggers the next CRL at
	// once instead of at the next poll of the revocation state.
	go followStatus(e.svc, e.store, head, time.Second, p.Trigger, log)
	// The producer stops with the services (a CRL being signed finishes
	// and is stored) and gives up its lease before the store closes.
	e.onClose(func() { <-done })
	log.Info("crl: producer started", "cas", ids, "holder", holder, "interval", c.Interval, "validity", c.Validity,
		"root_validity", c.RootValidity, "poll", c.Poll, "lease_ttl", e.cfg.CRL.LeaseTTL())
	return nil
}

// followStatus calls changed whenever the store's status feed moves past
// seq, polling every interval until ctx ends.
func followStatus(ctx context.Context, st interface {
	StatusChangesAfter(ctx context.Context, seq int64, limit int) ([]store.StatusChange, error)
}, seq int64, interval time.Duration, changed func(), log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		page, err := st.StatusChangesAfter(ctx, seq, 1000)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("crl: status feed", "after", seq, "err", err.Error())
			}
			continue
		}
		if len(page) > 0 {
			seq = page[len(page)-1].Seq
			changed()
		}
	}
}

// holderID names this process in the lease: host, pid and a random part
// (a pid is reused after a restart, the random part is not).
func holderID() (string, error) {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b)), nil
}
