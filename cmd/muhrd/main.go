// Command muhrd is the Muhr certification center's daemon. It reads its
// configuration once, opens what its roles need (the store, the HSM token),
// mounts each role's routes on its listeners and serves until SIGINT or
// SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/internal/center"
	"github.com/muhr-pki/muhr/internal/gcfloor"
	"github.com/muhr-pki/muhr/server"
	"github.com/muhr-pki/muhr/store"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the center could not start or failed while serving
	exitUsage = 2 // how muhrd was asked to run cannot work (flags, roles)
)

// run returns the process exit code; only main exits.
func run(args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runWith(ctx, args, stderr, roleTable(), nil, true)
}

// runWith is run until ctx ends, with the role table and a hook called
// once the listeners are bound (tests pass their own). ownsProcess is set
// by main alone: only then is the Go runtime tuned (runtime: in
// muhrd.yaml), as that setting is the whole process's.
func runWith(ctx context.Context, args []string, stderr io.Writer, table []role, ready func(map[string]net.Addr), ownsProcess bool) int {
	fs := flag.NewFlagSet("muhrd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "muhrd.yaml", "path of muhrd.yaml")
	rolesFlag := fs.String("roles", "", "comma-separated roles to serve ("+strings.Join(roleNames(table), ",")+
		"); empty: roles: in muhrd.yaml, else every built role")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	flagNames, err := parseRoleNames(table, strings.Split(*rolesFlag, ","))
	if err != nil {
		fmt.Fprintln(stderr, "muhrd:", err)
		return exitUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "muhrd:", err)
		return exitError
	}
	names := flagNames
	if len(names) == 0 {
		if names, err = parseRoleNames(table, cfg.Roles); err != nil {
			fmt.Fprintln(stderr, "muhrd: roles in muhrd.yaml:", strings.TrimPrefix(err.Error(), "--roles: "))
			return exitUsage
		}
	}
	roles, err := selectRoles(table, names, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "muhrd:", err)
		return exitUsage
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level(cfg.Log.Level)}))
	if ownsProcess && cfg.Runtime.GCHeapFloorBytes > 0 {
		floor := gcfloor.Start(uint64(cfg.Runtime.GCHeapFloorBytes), gcfloor.Base())
		defer floor.Stop()
	}
	if ownsProcess {
		signers, _ := needs(roles)
		_, envSet := os.LookupEnv("GOMAXPROCS")
		base := runtime.GOMAXPROCS(0)
		if n := gomaxprocs(cfg.Runtime, base, cfg.HSM.Sessions, len(signers) > 0, envSet); n != base {
			runtime.GOMAXPROCS(n)
			defer runtime.GOMAXPROCS(base)
			log.Info("GOMAXPROCS set", "gomaxprocs", n, "go_default", base, "hsm_sessions", cfg.HSM.Sessions)
		}
	}
	if err := serve(ctx, *cfgPath, cfg, roles, log, ready); err != nil {
		log.Error("muhrd stopped", "err", err.Error())
		fmt.Fprintln(stderr, "muhrd:", err)
		return exitError
	}
	log.Info("muhrd stopped")
	return exitOK
}

func level(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// serve opens what the roles need, mounts them, serves, and shuts down in
// the one safe order: the listeners stop accepting and drain their
// in-flight requests; then the services close (the TSA ledger, the clock
// guard); then the token and the store (deferred, so also on every error
// path).
func serve(ctx context.Context, cfgPath string, cfg *config.Config, roles []role, log *slog.Logger, ready func(map[string]net.Addr)) error {
	signers, db := needs(roles)
	var st store.Store
	var err error
	switch db {
	case dbWrite:
		// Roles that write migrate the schema first (concurrent starts
		// queue on the migration lock).
		st, err = center.OpenStore(ctx, cfg.Database, center.Migrating())
	case dbRead:
		// A reading process does not migrate: it refuses a schema that is
		// behind, naming the command that migrates (with this config).
		st, err = center.OpenStore(ctx, cfg.Database, center.ConfigPath(cfgPath))
	}
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	if st != nil {
		defer st.Close()
	}
	e := &edge{cfg: cfg, log: log}
	if len(signers) > 0 {
		t, err := center.OpenHSM(ctx, cfg.HSM, log)
		if err != nil {
			return fmt.Errorf("open HSM: %w", err)
		}
		defer t.Close()
		e.keys = t
		var prober keyProber = t
		e.probeKey = func(label string) server.Checker {
			return server.CheckerFunc(func(ctx context.Context) error { return prober.ProbeKey(ctx, label) })
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := server.New(server.Options{Registry: reg, Logger: log, HTTP: cfg.HTTP})
	if st != nil {
		chk := dbCheck(st, db)
		chk.Degrades = dbOptional(roles)
		srv.AddCheck(chk)
	}
	// Services live until the listeners have drained, not until the
	// signal: a request in flight at shutdown still finds its ledger.
	svc, stopServices := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServices()
	e.reg, e.srv, e.store, e.svc = reg, srv, st, svc
	defer func() {
		// After the listeners (Run has returned): services, newest first.
		stopServices()
		for i := len(e.closers) - 1; i >= 0; i-- {
			e.closers[i]()
		}
	}()
	for _, r := range roles {
		if err := r.mount(ctx, e); err != nil {
			return fmt.Errorf("role %s: %w", r.name, err)
		}
	}

	lns, err := bind(ctx, cfg, srv, e.officer)
	if err != nil {
		return err
	}
	addrs := map[string]net.Addr{}
	for _, l := range lns {
		addrs[l.Name] = l.Net.Addr()
	}
	log.Info("muhrd serving", "roles", strings.Join(roleNames(roles), ","), "listen", addrs[server.ListenerPublic].String(),
		"ops_listen", cfg.OpsAddr(), "public_url", cfg.PublicURL, "database", cfg.Database.Driver, "db_access", db.String(),
		"token", tokenLabel(cfg, signers), "keys", strings.Join(e.keysIn, ","))
	if ready != nil {
		ready(addrs)
	}
	if err := srv.Run(ctx, lns...); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func tokenLabel(cfg *config.Config, signers []string) string {
	if len(signers) == 0 {
		return "(not opened: no role signs)"
	}
	return cfg.HSM.TokenLabel
}

// bind opens the listeners: public always, operations unless ops_listen
// is "", the officers' mTLS listener when the ra role runs.
func bind(ctx context.Context, cfg *config.Config, srv *server.Server, off *officerListener) ([]server.Listener, error) {
	pub, err := server.Listen(ctx, server.ListenerPublic, cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	lns := []server.Listener{{Name: server.ListenerPublic, Net: pub, Handler: srv.Handler()}}
	if addr := cfg.OpsAddr(); addr != "" {
		ops, err := server.Listen(ctx, server.ListenerOps, addr)
		if err != nil {
			pub.Close()
			return nil, fmt.Errorf("ops_listen (\"\" disables it): %w", err)
		}
		lns = append(lns, server.Listener{Name: server.ListenerOps, Net: ops, Handler: srv.OpsHandler()})
	}
	if off != nil {
		ln, err := server.Listen(ctx, listenerOfficer, off.addr)
		if err != nil {
			for _, l := range lns {
				l.Net.Close()
			}
			return nil, fmt.Errorf("admin_listen (or $MUHR_ADMIN_LISTEN): %w", err)
		}
		lns = append(lns, server.Listener{Name: listenerOfficer, Net: ln, Handler: off.handler, TLS: off.tls})
	}
	return lns, nil
}
