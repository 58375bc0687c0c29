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
// store closes.
func mountTSA(ctx context.Context, c config.TSA, driver string, st store.Store, keys tsa.KeyFinder, srv *server.Server,
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
	// PostgreSQL overlaps the commits of concurrent transactions (each
	// waits for its WAL flush), so several writers raise throughput; SQLite
	// has one write lock, and a second writer would only wait for it. Its
	// one writer lingers 1 ms after a shared commit instead: at 16 clients
	// that halves the fsyncs (4.4 → 8.2 tokens a commit) for ~3% less CPU
	// a token, and a lone client never waits (scripts/bench/tsa.sh).
	bo := tsa.BatchOptions{Writers: 1, Linger: time.Millisecond}
	if driver == "postgres" {
		bo = tsa.BatchOptions{Writers: 4}
	}
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
