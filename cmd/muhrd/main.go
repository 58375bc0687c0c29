// Command muhrd is the Muhr certification center's daemon. It reads its
// configuration once, opens the store and the HSM token, and serves the
// public HTTP surface until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/internal/center"
	"github.com/muhr-pki/muhr/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run returns the process exit code; only main exits.
func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("muhrd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "muhrd.yaml", "path of muhrd.yaml")
	rolesFlag := fs.String("roles", "", "comma-separated roles to serve (ca,ra,ocsp,tsa,repository); empty serves all")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	roles, err := parseRoles(*rolesFlag)
	if err != nil {
		fmt.Fprintln(stderr, "muhrd:", err)
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "muhrd:", err)
		return 1
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level(cfg.Log.Level)}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, roles, log); err != nil {
		log.Error("muhrd stopped", "err", err.Error())
		fmt.Fprintln(stderr, "muhrd:", err)
		return 1
	}
	log.Info("muhrd stopped")
	return 0
}

func level(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

func serve(ctx context.Context, cfg *config.Config, roles map[string]bool, log *slog.Logger) error {
	parts, err := center.Open(ctx, cfg, log, center.Migrating())
	if err != nil {
		return err
	}
	defer parts.Close()
	st, tok := parts.Store, parts.Keys

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := server.New(server.Options{
		Repository: st,
		Health:     server.Health{HSM: server.CheckerFunc(tok.Health), DB: server.CheckerFunc(st.Ping)},
		Registry:   reg,
		Logger:     log,
		HTTP:       cfg.HTTP,
	})
	if roles["tsa"] && cfg.TSA.Enabled {
		closeTSA, err := mountTSA(ctx, cfg.TSA, cfg.Database.Driver, st, tok, srv, reg, log)
		if err != nil {
			return fmt.Errorf("tsa: %w", err)
		}
		// Runs before parts.Close: the TSA drains while the store is open.
		defer func() { _ = closeTSA(context.WithoutCancel(ctx)) }()
	}
	log.Info("muhrd serving", "listen", cfg.Listen, "public_url", cfg.PublicURL, "database", cfg.Database.Driver, "token", cfg.HSM.TokenLabel)
	if err := srv.ListenAndServe(ctx, cfg.Listen); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
