package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/internal/center"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/storeopen"
)

func newDBCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the center's database",
	}
	cmd.AddCommand(newDBMigrateCmd())
	return cmd
}

func newDBMigrateCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending schema migrations to the database named in muhrd.yaml",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			s, err := storeopen.Open(cmd.Context(), cfg.Database)
			if err != nil {
				return fmt.Errorf("open database: %w", err)
			}
			defer s.Close()
			applied, err := s.MigrateReport(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, a := range applied {
				fmt.Fprintf(out, "applied %s (%s)\n", a.Name, a.Duration.Round(time.Millisecond))
			}
			if len(applied) == 0 {
				fmt.Fprintln(out, "database schema is up to date; nothing applied")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "muhrd.yaml", "muhrd configuration file naming the database")
	return cmd
}

// openStoreFromConfig opens the database named by muhrd.yaml's database
// section, for commands that do not migrate: a database whose schema is
// behind is refused, naming `muhr db migrate`. The error of an unreachable
// database names its file or host.
func openStoreFromConfig(ctx context.Context, cfgPath string) (store.Store, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	s, err := center.OpenStore(ctx, cfg.Database, center.ConfigPath(cfgPath))
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return s, nil
}
