package main

import (
	"context"
	"encoding/asn1"
	"fmt"
	"log/slog"
	"strconv"
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
// and mounts POST /tsa and GET /tsa/healthz (its clock also shows in /healthz). Any number of muhrd processes
// may do this on one database: serials are random and the ledger's primary
// key refuses a reused one before the token leaves.
func mountTSA(ctx context.Context, c config.TSA, st store.Store, keys tsa.KeyFinder, srv *server.Server,
	reg prometheus.Registerer, log *slog.Logger) error {
	if !c.SyncRequired() {
		log.Warn("tsa: require_sync is OFF: tokens are issued even while the kernel reports the clock unsynchronised; demo use only")
	}
	if len(c.NTPServers) == 0 {
		log.Warn("tsa: no ntp_servers: the clock is checked only against the kernel state and for steps")
	}
	guard, err := clockguard.New(clockguard.Options{
		Budget: c.MaxOffset, RequireSync: c.SyncRequired(), Servers: c.NTPServers,
		Interval: c.NTPInterval, Timeout: c.NTPTimeout, Registry: reg, Logger: log,
	})
	if err != nil {
		return err
	}
	go guard.Run(ctx)
	unit, err := tsa.LoadUnit(ctx, st, keys, c.SignerCA, time.Now())
	if err != nil {
		return err
	}
	pols := make([]asn1.ObjectIdentifier, len(c.Policies))
	for i, p := range c.Policies {
		if pols[i], err = parseOID(p); err != nil {
			return fmt.Errorf("tsa.policies[%d]: %w", i, err)
		}
	}
	def, err := parseOID(c.DefaultPolicy)
	if err != nil {
		return fmt.Errorf("tsa.default_policy: %w", err)
	}
	t, err := tsa.New(tsa.Options{Unit: unit, Ledger: tsa.NewBatchLedger(ctx, st, 0), Clock: guard, Accuracy: c.Accuracy,
		Policies: pols, Default: def, Registry: reg, Logger: log})
	if err != nil {
		return err
	}
	srv.Handle("POST /tsa", t)
	srv.Handle("GET /tsa/healthz", t.HealthHandler())
	// The clock's trust shows in /healthz too, as "tsa_clock".
	srv.AddCheck("tsa_clock", server.CheckerFunc(t.Health))
	log.Info("tsa: serving POST /tsa", "unit", unit.Cert.Subject.String(), "ca", unit.CAID,
		"not_after", unit.Cert.NotAfter, "accuracy", c.Accuracy, "policies", c.Policies, "max_offset", c.MaxOffset)
	return nil
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	var o asn1.ObjectIdentifier
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a dotted OID", s)
		}
		o = append(o, n)
	}
	if len(o) < 2 {
		return nil, fmt.Errorf("%q is not a dotted OID", s)
	}
	return o, nil
}
