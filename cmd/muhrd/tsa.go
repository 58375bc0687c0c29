package main

import (
	"context"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/httpx"
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
	if errors.Is(err, store.ErrNotFound) {
		// A fresh database, or tsa.signer_ca names a CA the ceremony did
		// not make a time-stamping unit for: say what to run.
		return errkind.Wrap(errkind.NotFound, fmt.Errorf("no time-stamping unit under CA %q in the database: "+
			"run `muhr ceremony run --config muhrd.yaml` (it makes the TSU key and certificate), "+
			"or correct tsa.signer_ca, or set tsa.enabled: false: %w", c.SignerCA, err))
	}
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
	// One writer that lingers 1 ms after a shared commit, on both
	// databases: on 2 cores at 16 clients that halves SQLite's fsyncs (4.4 →
	// 8.2 tokens a commit, ~3% less CPU a token), and on PostgreSQL one
	// writer with multi-row inserts beat four (the database's CPU a token
	// 0.16–0.21 → 0.08–0.10 ms, muhrd's 0.33–0.43 → 0.30–0.35 ms, and more
	// tokens/s at 64 clients), since the database shares the cores. A lone
	// client never waits (scripts/bench/tsa.sh).
	bo := tsa.BatchOptions{Writers: 1, Linger: time.Millisecond}
	ledger := tsa.NewBatchLedgerWith(st, bo)
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
	e.srv.Public().Handle("POST /tsa", t, httpx.MaxBody(tsa.MaxRequestBytes))
	e.tsa = t
	e.srv.Public().Handle("GET /tsa/healthz", t.HealthHandler())
	e.useKey(sg.KeyLabel)
	e.srv.AddCheck(&server.Check{Name: "tsa_clock", Target: "tsa " + unit.CAID, Probe: server.CheckerFunc(t.Health),
		Code: tsa.ReasonClockUntrusted, Classify: tsa.HealthReason, Degrades: true})
	log.Info("tsa: serving POST /tsa", "unit", unit.Cert.Subject.String(), "ca", unit.CAID,
		"not_after", unit.Cert.NotAfter, "accuracy", c.Accuracy, "policies", c.Policies, "max_offset", c.MaxOffset)
	return nil
}
