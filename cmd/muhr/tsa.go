package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/muhr-pki/muhr/tsa"
)

func newTSACmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tsa",
		Short: "Query the time-stamping authority's token ledger",
	}
	cmd.AddCommand(newTSAShowCmd())
	return cmd
}

// parseTSASerial accepts a serial as openssl prints it (0x...) or as bare
// hex, the way the ledger stores it.
func parseTSASerial(s string) (*big.Int, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	n, ok := new(big.Int).SetString(h, 16)
	if !ok || n.Sign() <= 0 {
		return nil, fmt.Errorf("serial %q is not a positive hexadecimal number", s)
	}
	return n, nil
}

func newTSAShowCmd() *cobra.Command {
	var cfgPath, outPath string
	cmd := &cobra.Command{
		Use:   "show SERIAL",
		Short: "Show the ledger record of a time-stamp token: did the center issue it?",
		Long: `Show the ledger record of a time-stamp token: did the center issue it?

The ledger keeps each token without its certificates (the TSA unit's
certificate and CA chain are fixed per signer row); show puts them back, so
token_sha256 is that of the token as a client that asked for certificates
received it, and --out writes that token (DER).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			serial, err := parseTSASerial(args[0])
			if err != nil {
				return err
			}
			s, err := openStoreFromConfig(cmd.Context(), cfgPath)
			if err != nil {
				return err
			}
			defer s.Close()
			tk, err := s.GetTSAToken(cmd.Context(), serial)
			if err != nil {
				return err
			}
			full, err := tsa.LedgerTokenWithChain(cmd.Context(), s, tk)
			if err != nil {
				return err
			}
			if outPath != "" {
				if err := os.WriteFile(outPath, full, 0o644); err != nil {
					return err
				}
			}
			sum := sha256.Sum256(full)
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "serial:          0x%X\n", tk.Serial)
			fmt.Fprintf(out, "gen_time:        %s\n", tk.GenTime.UTC().Format(time.RFC3339Nano))
			fmt.Fprintf(out, "hash_algorithm:  %s\n", tk.HashAlgorithm)
			fmt.Fprintf(out, "message_imprint: %s\n", hex.EncodeToString(tk.MessageImprint))
			fmt.Fprintf(out, "policy:          %s\n", tk.Policy)
			fmt.Fprintf(out, "requester:       %s\n", tk.Requester)
			fmt.Fprintf(out, "tsa_unit:        CA %s, certificate serial 0x%X\n", tk.SignerCAID, tk.SignerSerial)
			fmt.Fprintf(out, "issued_at:       %s\n", tk.IssuedAt.UTC().Format(time.RFC3339Nano))
			fmt.Fprintf(out, "token_sha256:    %s (%d bytes with certificates; %d stored)\n", hex.EncodeToString(sum[:]), len(full), len(tk.TokenDER))
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "muhrd.yaml", "muhrd configuration file naming the database")
	cmd.Flags().StringVar(&outPath, "out", "", "write the token with its certificates to this file (DER)")
	return cmd
}
