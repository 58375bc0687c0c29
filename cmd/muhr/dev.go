package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/internal/center"
	"github.com/muhr-pki/muhr/internal/center/issuing"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
)

func newDevCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dev", Short: "Developer shortcuts on a local center (the quickstart's $MUHR_HOME)"}
	cmd.AddCommand(newDevIssueCmd(), newDevRevokeCmd(), newDevSuspendCmd(), newDevResumeCmd())
	return cmd
}

// defaultConfig is the quickstart's muhrd.yaml.
func defaultConfig() string {
	home := os.Getenv("MUHR_HOME")
	if home == "" {
		home = ".muhr"
	}
	return filepath.Join(home, "muhrd.yaml")
}

func newDevIssueCmd() *cobra.Command {
	var cfgPath, profile, csrPath, idPath, out, caID, requestID string
	var qscd bool
	cmd := &cobra.Command{
		Use:   "issue --profile P --csr F --identity identity.json",
		Short: "Issue a certificate straight from a CSR and an identity file (no officer approval)",
		Long: "Runs the whole issuance pipeline (CSR checks, profile, serial, zlint, intent, HSM\n" +
			"signature, store, audit) on the center named by --config (default $MUHR_HOME/muhrd.yaml),\n" +
			"also while muhrd or other issuing processes run, and prints the certificate PEM. Issuing\n" +
			"the same inputs twice returns the same certificate; a --request-id reused with other\n" +
			"inputs is refused. identity.json is\n" +
			`  {"kind":"person","surname":…,"given_name":…,"patronymic":…,"personal_number":…,"country":"TJ"}` + "\n" +
			`  {"kind":"organization","name":…,"registration_number":…,"tax_number":…,"country":"TJ"}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if qscd {
				// A CSR file proves nothing about where its key lives: it may be
				// a key taken off a token, or one that never was on one.
				return errkind.Wrap(errkind.Invalid, errors.New("--qscd is refused with a CSR file: nothing shows the key was generated on a qualified device; "+
					"enrol the subscriber's card at the counter with `muhr token enroll`, which generates the key on the card"))
			}
			csrBytes, err := os.ReadFile(csrPath)
			if err != nil {
				return fmt.Errorf("--csr: %w", err)
			}
			idBytes, err := os.ReadFile(idPath)
			if err != nil {
				return fmt.Errorf("--identity: %w", err)
			}
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			settings, err := issuing.Settings(cfg)
			if err != nil {
				return err
			}
			id, err := policy.ParseIdentityWith(idBytes, settings.Rules)
			if err != nil {
				return fmt.Errorf("--identity %s: %w", idPath, err)
			}
			prof, err := policy.ProfileByName(profile)
			if err != nil {
				return fmt.Errorf("--profile: %w", err)
			}
			ctx := cmd.Context()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			parts, err := center.Open(ctx, cfg, log, center.ConfigPath(cfgPath))
			if err != nil {
				return err
			}
			defer parts.Close()
			if caID == "" {
				if caID, err = defaultCA(cmd, parts.Store, prof); err != nil {
					return err
				}
			}
			iss, err := ca.NewIssuer(ctx, ca.IssuerOptions{CAID: caID, Store: parts.Store, Keys: parts.Keys, Settings: settings,
				Log: log, SignTimeout: cfg.HSM.SignTimeout})
			if err != nil {
				return err
			}
			// Close releases the issuer's lease, so that nothing this run
			// left pending waits for the lease to run out.
			defer iss.Close()
			if requestID == "" {
				h := sha256.New()
				fmt.Fprintf(h, "%s\x00%t\x00%s\x00", prof.Name, qscd, caID)
				h.Write(csrBytes)
				h.Write([]byte{0})
				h.Write(idBytes)
				requestID = "dev-" + hex.EncodeToString(h.Sum(nil))[:24]
			}
			actor := "dev-cli"
			if u := os.Getenv("USER"); u != "" {
				actor += ":" + u
			}
			cert, err := iss.IssueRequest(ctx, ca.Request{ID: requestID, Profile: profile, CSR: csrBytes, Identity: id, QSCD: qscd, Actor: actor})
			if err != nil {
				return err
			}
			p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
			if out != "" {
				if err := os.WriteFile(out, p, 0o644); err != nil {
					return err
				}
			}
			_, err = cmd.OutOrStdout().Write(p)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", defaultConfig(), "muhrd.yaml of the center")
	f.StringVar(&profile, "profile", "", "qes-person, qseal-org, tls-server or officer")
	f.StringVar(&csrPath, "csr", "", "the subscriber's CSR (PEM or DER)")
	f.StringVar(&idPath, "identity", "", "the registered identity (JSON)")
	f.BoolVar(&qscd, "qscd", false, "the key was generated on a qualified signature creation device")
	f.StringVar(&out, "out", "", "also write the certificate PEM to this file")
	f.StringVar(&caID, "ca", "", "issuing CA id (default: the first active CA that may issue the profile)")
	f.StringVar(&requestID, "request-id", "", "request id (default: derived from the inputs, so a repeat returns the same certificate)")
	for _, r := range []string{"profile", "csr", "identity"} {
		_ = cmd.MarkFlagRequired(r)
	}
	return cmd
}

func defaultCA(cmd *cobra.Command, st store.Store, prof policy.Profile) (string, error) {
	cas, err := st.ListCAs(cmd.Context())
	if err != nil {
		return "", err
	}
	for _, c := range cas {
		if c.Status == store.CAStatusActive && prof.AllowedIssuer(policy.IssuerKindDER(c.Kind, c.CertDER)) {
			return c.ID, nil
		}
	}
	return "", errors.New("no active CA may issue profile " + prof.String() + "; run the key ceremony first")
}
