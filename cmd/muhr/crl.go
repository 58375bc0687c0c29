package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/internal/center"
	"github.com/muhr-pki/muhr/store"
)

func newCRLCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "crl",
		Short: "Certificate revocation lists",
	}
	cmd.AddCommand(newCRLGenerateCmd())
	return cmd
}

func newCRLGenerateCmd() *cobra.Command {
	var cfgPath, caID string
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Sign and store the next full CRL of every active CA (or of --ca)",
		Long: "Makes each CA's next full CRL from the database named in muhrd.yaml, with crl.validity\n" +
			"(crl.root_validity for the root), signs it with the CA key on the token and stores it, so\n" +
			"the repository serves it at /crl/<ca-id>.crl at once. It may run beside muhrd's producer:\n" +
			"CRL numbers come from the database, and a number another process took first is retried.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			if err := cfg.CRL.Validate(); err != nil {
				return errkind.Wrap(errkind.Invalid, err)
			}
			st, err := center.OpenStore(ctx, cfg.Database, center.ConfigPath(cfgPath))
			if err != nil {
				return fmt.Errorf("open database: %w", err)
			}
			defer st.Close()
			ids := []string{caID}
			if caID == "" {
				cas, err := st.ListCAs(ctx)
				if err != nil {
					return err
				}
				ids = ids[:0]
				for _, c := range cas {
					if c.Status == store.CAStatusActive {
						ids = append(ids, c.ID)
					}
				}
			} else if _, err := st.GetCA(ctx, caID); err != nil {
				return fmt.Errorf("--ca %s: %w", caID, err)
			}
			tok, err := center.OpenHSM(ctx, cfg.HSM, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				return fmt.Errorf("open HSM: %w", err)
			}
			defer tok.Close()
			c := cfg.CRL.Effective()
			g := &ca.CRLGenerator{Store: st, Keys: tok, Validity: c.Validity, RootValidity: c.RootValidity, Actor: "muhr crl generate"}
			for _, id := range ids {
				res, err := g.Generate(ctx, id)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "crl %s #%s: %d entries, next update %s, %d bytes, sha256 %s\n",
					id, res.Number, res.Entries, res.NextUpdate.UTC().Format(time.RFC3339), len(res.DER), ca.Fingerprint(res.DER))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "muhrd.yaml", "path of muhrd.yaml")
	cmd.Flags().StringVar(&caID, "ca", "", "only this CA (default: every active CA)")
	return cmd
}
