package main

import (
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/hsm/softhsm"
	"github.com/muhr-pki/muhr/internal/center"
)

func newCeremonyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "ceremony", Short: "Key ceremonies: create the CA hierarchy on the HSM"}
	cmd.AddCommand(newCeremonyRunCmd())
	return cmd
}

func newCeremonyRunCmd() *cobra.Command {
	var planPath, caDir, backupDir string
	cmd := &cobra.Command{
		Use:   "run --config ceremony.yaml",
		Short: "Generate the hierarchy's keys on the token, sign, lint and store it",
		Long: "Performs ceremony.yaml directly against the HSM and the database named by its\n" +
			"center: muhrd.yaml. Refuses to overwrite an existing CA id or key label. On SoftHSM2 it\n" +
			"then writes a verified token backup to backup/token-<UTC time> beside muhrd.yaml\n" +
			"(see muhr hsm backup).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var plan ca.Plan
			if err := config.LoadStrict(planPath, &plan); err != nil {
				return err
			}
			if plan.Center == "" {
				return fmt.Errorf("%s: center: required (path of muhrd.yaml)", planPath)
			}
			centerPath := config.ResolvePath(filepath.Dir(planPath), plan.Center)
			cfg, err := config.Load(centerPath)
			if err != nil {
				return err
			}
			if err := plan.Validate(); err != nil {
				return fmt.Errorf("%s: %w", planPath, err)
			}
			ctx := cmd.Context()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			parts, err := center.Open(ctx, cfg, log, center.ConfigPath(centerPath))
			if err != nil {
				return err
			}
			defer parts.Close()
			cer := &ca.Ceremony{Keys: parts.Keys, Store: parts.Store, PublicURL: cfg.PublicURL, Log: log}
			made, err := cer.Run(ctx, &plan)
			if err != nil {
				return err
			}
			printMade(cmd.OutOrStdout(), made)
			if caDir != "" {
				if err := writeCAPEMs(caDir, made); err != nil {
					return err
				}
			}
			// The keys just made exist only in the token's files: keep a
			// verified copy before anything can happen to them.
			if _, err := softHSMLayout(cfg.HSM.Module); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "muhr: no token backup made: %v\n", err)
				return nil
			}
			if backupDir == "" {
				backupDir = defaultBackupDir(config.ResolvePath(filepath.Dir(planPath), plan.Center))
			}
			out := filepath.Join(backupDir, softhsm.BackupName(time.Now()))
			if err := backupToken(ctx, cmd.OutOrStdout(), cfg.HSM.Module, cfg.HSM.TokenLabel, out); err != nil {
				return fmt.Errorf("the ceremony succeeded, but backing up the token failed (run muhr hsm backup): %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&backupDir, "backup-dir", "", "directory for the SoftHSM2 token backup made after the ceremony (default backup/ beside muhrd.yaml)")
	cmd.Flags().StringVar(&planPath, "config", "", "ceremony file (YAML)")
	cmd.Flags().StringVar(&caDir, "ca-dir", "", "directory to write the CA certificates to as <id>.pem")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func printMade(w io.Writer, made []ca.Made) {
	for _, m := range made {
		fmt.Fprintf(w, "%-12s %-10s key=%-16s sha256=%s\n             %s\n", m.Role, m.ID, m.KeyLabel, m.Fingerprint, m.Subject)
	}
}

// writeCAPEMs writes only CA certificates (not the OCSP or TSA signers').
func writeCAPEMs(dir string, made []ca.Made) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, m := range made {
		if m.Cert == nil || !m.Cert.IsCA {
			continue
		}
		p := filepath.Join(dir, m.ID+".pem")
		b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: m.DER})
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}
