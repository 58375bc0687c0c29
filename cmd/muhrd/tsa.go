package main

import (
	"context"
	"encoding/asn1"
	"fmt"
	"time"

	"github.com/muhr-pki/muhr/server"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/tsa"
	"github.com/muhr-pki/muhr/tsa/clockguard"
)

// mountTSA builds the TSA from tsa: in muhrd.yaml, starts its clock guard
// and mounts POST /tsa and GET /tsa/healthz on the public listener; its key
// and clock show in /healthz. Any number of muhrd processes may do this on
// one database: serials are random and the ledger's primary key refuses a
// reused one before the token leaves. The ledger and the guard run on the
// services' context, which ends only after the listeners have drained, so
// a request in flight at shutdown still gets its token recorded.
func mountTSA(ctx context.Context, e *edge) error {
	c, st, log := e.cfg.TSA, e.store, e.log
	if !c.SyncRequired() {
		log.Warn("tsa: require_sync is OFF: tokens are issued even while the kernel reports the clock unsynchronised; demo use only")
	}
	if len(c.NTPServers) == 0 {
		log.Warn("tsa: no ntp_servers: the clock is checked only against the kernel state and for steps")
	}
	guard, err := clockguard.New(clockguard.Options{
		Budget: c.MaxOffset, RequireSync: c.SyncRequired(), Servers: c.NTPServers,
		Interval: c.NTPInterval, Timeout: c.NTPTimeout, Registry: e.reg, Logger: log,
		OnReanchor: tsa.ClockAuditor(st, "muhrd", nil),
	})
	if err != nil {
		return err
	}
	sg, err := st.LatestSigner(ctx, store.SignerRoleTSA, c.SignerCA)
	if err != nil {
		return fmt.Errorf("TSA unit under CA %s: %w", c.SignerCA, err)
	}
	unit, err := tsa.LoadUnit(ctx, st, e.keys, c.SignerCA, time.Now())
	if err != nil {
		return err
	}
	go guard.Run(e.svc)
	pols := make([]asn1.ObjectIdentifier, len(c.Policies))
	for i, p := range c.Policies {
		if pols[i], err = tsa.ParseOID(p); err != nil {
			return fmt.Errorf("tsa.policies[%d]: %w", i, err)
		}
	}
	def, err := tsa.ParseOID(c.DefaultPolicy)
	if err != nil {
		return fmt.Errorf("tsa.default_policy: %w", err)
	}
	// PostgreSQL overlaps the commits of concurrent transactions (each
	// waits for its WAL flush), so several writers raise throughput; SQLite
	// has one write lock, and a second writer would only wait for it.
	writers := 1
	if e.cfg.Database.Driver == "postgres" {
		writers = 4
	}
	ledger := tsa.NewBatchLedgerWriters(st, 0, writers)
	t, err := tsa.New(tsa.Options{Unit: unit, Ledger: ledger, Clock: guard, Accuracy: c.Accuracy, ClockError: c.MaxOffset,
		Policies: pols, Default: def, Registry: e.reg, Logger: log})
	if err != nil {
		_ = ledger.Close()
		return err
	}
	// After the listeners have drained: requests still in the TSA finish
	// and are committed, then the ledger's writer stops; the store closes
	// after that.
	e.onClose(func() {
		if err := t.Close(context.Background()); err != nil {
			log.Error("tsa: close", "err", err.Error())
		}
	})
	e.srv.Public().Handle("POST /tsa", t)
	e.srv.Public().Handle("GET /tsa/healthz", t.HealthHandler())
	e.useKey(sg.KeyLabel)
	e.srv.AddCheck(&server.Check{Name: "tsa_clock", Target: "tsa " + unit.CAID, Probe: server.CheckerFunc(t.Health),
		Code: tsa.ReasonClockUntrusted, Classify: tsa.HealthReason, Degrades: true})
	log.Info("tsa: serving POST /tsa", "unit", unit.Cert.Subject.String(), "ca", unit.CAID,
		"not_after", unit.Cert.NotAfter, "accuracy", c.Accuracy, "policies", c.Policies, "max_offset", c.MaxOffset)
	return nil
}
