package main

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/server"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/tsa"
)

// dbAccess is what a role needs from the database.
type dbAccess int

const (
	dbNone  dbAccess = iota
	dbRead           // reads only: the process does not migrate and its health pings
	dbWrite          // writes: the process migrates and its health takes a write
)

func (a dbAccess) String() string {
	return [...]string{"none", "read", "write"}[a]
}

// role is one row of the daemon's role table: what the role needs and how
// it mounts. The process opens only what its roles need: no role with a
// signer, no login to the token; no role that writes, no migration.
type role struct {
	name string
	// signers are the kinds of HSM key the role signs with: "ca" (the
	// issuing CAs' keys) or a store.SignerRole* (OCSP, TSA unit).
	signers []string
	db      dbAccess
	// listeners are where its routes go (server.ListenerPublic, ...; the
	// officers' mTLS listener for ca and ra).
	listeners []string
	// mount builds the role's service and mounts its routes; nil means the
	// role is not built yet and muhrd refuses to start with it.
	mount func(ctx context.Context, e *edge) error
	// configured reports why muhrd.yaml keeps the role off (nil: on).
	configured func(*config.Config) error
	// servesWithoutDB: the role keeps answering while the database is away
	// (ocsp, from its cache), so a database failure only degrades it.
	servesWithoutDB bool
}

// listenerOfficer is the officers' mTLS listener, which the Officers issue
// brings; the ca and ra roles will serve there.
const listenerOfficer = "officer"

// roleTable lists every role muhrd knows, in the order they mount.
func roleTable() []role {
	return []role{
		// ca: the CRL producer (crl: in muhrd.yaml) with the CA keys; its
		// issuance API on the officers' listener comes with the Officers issue.
		{name: "ca", signers: []string{"ca"}, db: dbWrite, listeners: []string{listenerOfficer},
			mount: mountCA, configured: crlConfigured},
		{name: "ra", signers: []string{"ca"}, db: dbWrite, listeners: []string{listenerOfficer}, mount: mountRA, configured: raConfigured},
		{name: "ocsp", signers: []string{store.SignerRoleOCSP}, db: dbRead, listeners: []string{server.ListenerPublic},
			mount: mountOCSP, configured: ocspConfigured, servesWithoutDB: true},
		{name: "tsa", signers: []string{store.SignerRoleTSA}, db: dbWrite, listeners: []string{server.ListenerPublic},
			mount: mountTSA, configured: tsaConfigured},
		{name: "repository", db: dbRead, listeners: []string{server.ListenerPublic}, mount: mountRepository},
		{name: "checkpoint", signers: []string{"audit"}, db: dbWrite, listeners: []string{server.ListenerOps}, mount: mountCheckpoint, configured: checkpointConfigured},
		{name: "validate", db: dbRead, listeners: []string{server.ListenerPublic}, mount: mountValidate, configured: validateConfigured},
	}
}

func tsaConfigured(c *config.Config) error {
	if !c.TSA.Enabled {
		return fmt.Errorf("tsa.enabled is false in muhrd.yaml")
	}
	return nil
}

// usageError is a start refused for how muhrd was asked to run (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// parseRoleNames checks the names of --roles (or roles: in muhrd.yaml)
// against the table; empty means the default set.
func parseRoleNames(table []role, names []string) ([]string, error) {
	var known []string
	for _, r := range table {
		known = append(known, r.name)
	}
	var out []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !slices.Contains(known, n) {
			return nil, usagef("--roles: unknown role %q (want some of %s)", n, strings.Join(known, ","))
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// selectRoles picks the rows to run. Named roles must be built and
// configured; the default set is every built role that muhrd.yaml turns on.
func selectRoles(table []role, names []string, cfg *config.Config) ([]role, error) {
	var sel []role
	for _, r := range table {
		asked := slices.Contains(names, r.name)
		if len(names) > 0 && !asked {
			continue
		}
		if r.mount == nil {
			if asked {
				return nil, usagef("role %s is not built yet; run muhrd without it (built roles: %s)", r.name, strings.Join(builtRoles(table), ","))
			}
			continue
		}
		if r.configured != nil {
			if err := r.configured(cfg); err != nil {
				if asked {
					return nil, usagef("role %s: %v", r.name, err)
				}
				continue
			}
		}
		sel = append(sel, r)
	}
	if len(sel) == 0 {
		return nil, usagef("no role to serve (built roles: %s)", strings.Join(builtRoles(table), ","))
	}
	return sel, nil
}

func builtRoles(table []role) []string {
	var out []string
	for _, r := range table {
		if r.mount != nil {
			out = append(out, r.name)
		}
	}
	return out
}

// needs sums what the selected roles need.
func needs(roles []role) (signers []string, db dbAccess) {
	for _, r := range roles {
		for _, s := range r.signers {
			if !slices.Contains(signers, s) {
				signers = append(signers, s)
			}
		}
		db = max(db, r.db)
	}
	return signers, db
}

// dbOptional reports whether every selected role that uses the database
// keeps serving without it: then the database check degrades, not downs.
func dbOptional(roles []role) bool {
	used := false
	for _, r := range roles {
		if r.db == dbNone {
			continue
		}
		if !r.servesWithoutDB {
			return false
		}
		used = true
	}
	return used
}

func roleNames(roles []role) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = r.name
	}
	return out
}

// keyStore is what roles need from the HSM token; *pkcs11.Token has it.
type keyStore interface {
	Signer(ctx context.Context, label string) (crypto.Signer, error)
}

// edge is what a role's mount gets: the parts the process opened for its
// roles, the routes to mount on, and the lifetime of services.
type edge struct {
	cfg   *config.Config
	log   *slog.Logger
	reg   prometheus.Registerer
	srv   *server.Server
	store store.Store // nil when no role needs the database
	keys  keyStore    // nil when no role signs
	// probeKey builds the health probe of a key in use.
	probeKey func(label string) server.Checker
	// svc lives until the listeners have drained; services (the TSA
	// ledger, the clock guard) run on it.
	svc     context.Context
	closers []func()
	keysIn  []string
	tsa     *tsa.Server // the tsa role's, when it runs in this process
	// officer is the officers' mTLS listener, when the ra role runs.
	officer *officerListener
}

// useKey registers a key a role signs with, so health checks that it can
// sign. Each label is checked once however many roles use it.
func (e *edge) useKey(label string) {
	if slices.Contains(e.keysIn, label) {
		return
	}
	e.keysIn = append(e.keysIn, label)
	e.srv.AddCheck(&server.Check{Name: "hsm", Target: label, Probe: e.probeKey(label),
		Code: server.ReasonKeyCannotSign, Classify: hsmReason})
}

// onClose runs f after the listeners have drained, before the store and
// the token close; closers run in reverse order of registration.
func (e *edge) onClose(f func()) { e.closers = append(e.closers, f) }

// mountRepository serves CA certificates and CRLs on the public listener.
func mountRepository(_ context.Context, e *edge) error {
	e.srv.MountRepository(e.store)
	return nil
}
