package main

import (
	"context"
	"encoding/asn1"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/server"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/tsa"
	"github.com/muhr-pki/muhr/tsa/clockguard"
)

// knownRoles are the names --roles accepts.
var knownRoles = []string{"ca", "ra", "ocsp", "tsa", "repository"}

// parseRoles turns --roles into a set; empty means every role.
func parseRoles(s string) (map[string]bool, error) {
	roles := map[string]bool{}
	if strings.TrimSpace(s) == "" {
		for _, r := range knownRoles {
			roles[r] = true
		}
		return roles, nil
	}
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		ok := false
		for _, k := range knownRoles {
			ok = ok || k == r
		}
		if !ok {
			return nil, fmt.Errorf("--roles: unknown role %q (want some of %s)", r, strings.Join(knownRoles, ","))
		}
		roles[r] = true
	}
	return roles, nil
}

// mountTSA builds the TSA from tsa: in muhrd.yaml, starts its clock guard
// and mounts POST /tsa and GET /tsa/healthz (its clock also shows in
// /healthz). Any number of muhrd processes may do this on one database:
// serials are random and the ledger's primary key refuses a reused one
// before the token leaves. The returned close drains the TSA (requests in
// flight finish and are committed, new ones are refused) and stops its
// ledger writer: call it after the HTTP server has stopped and before the
// store closes. The driver (third argument) no longer changes the ledger's
// settings.
func mountTSA(ctx context.Context, c config.TSA, _ string, st store.Store, keys tsa.KeyFinder, srv *server.Server,
	reg prometheus.Registerer, log *slog.Logger) (close func(context.Context) error, err error) {
	if !c.SyncRequired() {
		log.Warn("tsa: require_sync is OFF: tokens are issued even while the kernel reports the clock unsynchronised; demo use only")
	}
	if len(c.NTPServers) == 0 {
		log.Warn("tsa: no ntp_servers: the clock is checked only against the kernel state and for steps")
	}
	guard, err := clockguard.New(clockguard.Options{
		Budget: c.MaxOffset, RequireSync: c.SyncRequired(), Servers: c.NTPServers,
		Interval: c.NTPInterval, Timeout: c.NTPTimeout, Registry: reg, Logger: log,
		OnReanchor: tsa.ClockAuditor(st, "muhrd", nil),
	})
	if err != nil {
		return nil, err
	}
	unit, err := tsa.LoadUnit(ctx, st, keys, c.SignerCA, time.Now())
	if err != nil {
		return nil, err
	}
	pols := make([]asn1.ObjectIdentifier, len(c.Policies))
	for i, p := range c.Policies {
		if pols[i], err = tsa.ParseOID(p); err != nil {
			return nil, fmt.Errorf("tsa.policies[%d]: %w", i, err)
		}
	}
	def, err := tsa.ParseOID(c.DefaultPolicy)
	if err != nil {
		return nil, fmt.Errorf("tsa.default_policy: %w", err)
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
		Policies: pols, Default: def, Registry: reg, Logger: log})
	if err != nil {
		_ = ledger.Close()
		return nil, err
	}
	go guard.Run(ctx)
	srv.Handle("POST /tsa", t)
	srv.Handle("GET /tsa/healthz", t.HealthHandler())
	// The clock's trust shows in /healthz too, as "tsa_clock".
	srv.AddCheck("tsa_clock", server.CheckerFunc(t.Health))
	log.Info("tsa: serving POST /tsa", "unit", unit.Cert.Subject.String(), "ca", unit.CAID,
		"not_after", unit.Cert.NotAfter, "accuracy", c.Accuracy, "policies", c.Policies, "max_offset", c.MaxOffset)
	return t.Close, nil
}
