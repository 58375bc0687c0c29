package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"

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
	return c.CRL.Validate()
}

// mountCA runs the CRL producer of the ca role. Every muhrd with the role
// runs one; the "crl" lease in the database lets one of them produce, and
// another takes over when its holder stops renewing. The CRLs are served
// by the repository role from the store, so every muhrd serves the latest.
// Each active CA's key must be on the token at start, and shows in health.
func mountCA(ctx context.Context, e *edge) error {
	c := e.cfg.CRL.Effective()
	cas, err := e.store.ListCAs(ctx)
	if err != nil {
		return err
	}
	for _, row := range cas {
		if row.Status != store.CAStatusActive {
			continue
		}
		if _, err := e.keys.Signer(ctx, row.KeyLabel); err != nil {
			return fmt.Errorf("CA %s: key %s: %w", row.ID, row.KeyLabel, err)
		}
		e.useKey(row.KeyLabel)
	}
	holder, err := holderID()
	if err != nil {
		return err
	}
	log := e.log.With("role", "ca")
	p := &ca.CRLProducer{
		Gen:   &ca.CRLGenerator{Store: e.store, Keys: e.keys, Validity: c.Validity, RootValidity: c.RootValidity, Actor: "muhrd"},
		Store: e.store, Holder: holder, Interval: c.Interval, Poll: c.Poll, LeaseTTL: e.cfg.CRL.LeaseTTL(), Log: log,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(e.svc)
	}()
	// The producer stops with the services (a CRL being signed finishes
	// and is stored) and gives up its lease before the store closes.
	e.onClose(func() { <-done })
	log.Info("crl: producer started", "holder", holder, "interval", c.Interval, "validity", c.Validity,
		"root_validity", c.RootValidity, "poll", c.Poll, "lease_ttl", e.cfg.CRL.LeaseTTL())
	return nil
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
