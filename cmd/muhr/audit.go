package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/store"
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check the center's hash-chained audit log",
	}
	cmd.AddCommand(newAuditVerifyCmd())
	return cmd
}

// invalidInput marks a bad flag value for the CLI's error mapping (the
// error-kind method errkind reads, without importing it here).
type invalidInput struct{ error }

func (invalidInput) ErrorKind() string { return "invalid" }
func (e invalidInput) Unwrap() error   { return e.error }

func newAuditVerifyCmd() *cobra.Command {
	var cfgPath, expect string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit chain, and the certificates and TSA ledger against it",
		Long: "Walks the audit log of the database named in muhrd.yaml, checking each record's sequence\n" +
			"number, its link to the previous record and its own hash; then cross-checks the tables\n" +
			"against the chain: every stored certificate has its cert.issue record (SHA-256 matching)\n" +
			"and every such record its row, every revoked or held certificate a status-change record,\n" +
			"every TSA ledger row a tsa.ledger.batch record whose digest covers it unchanged. All of it\n" +
			"reads one snapshot of the database, so it may run beside muhrd.\n\n" +
			"It prints the head (head: seq=N sha256=HEX). Keep it elsewhere: the chain alone cannot\n" +
			"show that its newest records were removed or rewritten; --expect-head SEQ:HEX (or a file\n" +
			"holding it, or the head line) fails unless the record at SEQ still has that hash.\n" +
			"Exits non-zero naming the first bad record, certificate (issuer/serial) or token serial.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var want *audit.Head
			if expect != "" {
				h, err := readExpectedHead(expect)
				if err != nil {
					return invalidInput{fmt.Errorf("--expect-head: %w", err)}
				}
				want = &h
			}
			s, err := openStoreFromConfig(cmd.Context(), cfgPath)
			if err != nil {
				return err
			}
			defer s.Close()
			var rep audit.Report
			err = s.ReadSnapshot(cmd.Context(), func(ctx context.Context, r store.Reader) error {
				var err error
				rep, err = audit.Check(ctx, r, audit.Options{Expect: want})
				return err
			})
			out := cmd.OutOrStdout()
			if err != nil {
				if rep.Records > 0 {
					// What was read before the failure is still worth keeping.
					fmt.Fprintf(out, "head: seq=%d sha256=%x (as read; the check failed)\n", rep.Records, rep.Head)
				}
				return err
			}
			fmt.Fprintf(out, "audit chain OK: %d records\n", rep.Records)
			fmt.Fprintf(out, "cross-check OK: %d certificates (%d status changes), %d TSA tokens in %d ledger batches\n",
				rep.Certificates, rep.StatusChanges, rep.TSATokens, rep.LedgerBatches)
			if want != nil {
				fmt.Fprintf(out, "kept head %d matches\n", want.Seq)
			}
			if rep.Head != nil {
				fmt.Fprintf(out, "head: seq=%d sha256=%x\n", rep.Records, rep.Head)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "muhrd.yaml", "muhrd configuration file naming the database")
	cmd.Flags().StringVar(&expect, "expect-head", "", "a head kept from an earlier run: SEQ:HEX, or a file holding it (or the printed head line)")
	return cmd
}

// readExpectedHead takes SEQ:HEX, or a file holding SEQ:HEX or the line
// verify prints ("head: seq=N sha256=HEX").
func readExpectedHead(v string) (audit.Head, error) {
	if h, err := audit.ParseHead(v); err == nil {
		return h, nil
	} else if !strings.ContainsAny(v, "/.") && strings.Contains(v, ":") {
		return audit.Head{}, err
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return audit.Head{}, fmt.Errorf("neither SEQ:HEX nor a readable file: %w", err)
	}
	text := strings.TrimSpace(string(b))
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "head: seq="); ok {
			seq, sum, _ := strings.Cut(rest, " sha256=")
			sum, _, _ = strings.Cut(sum, " ")
			return audit.ParseHead(seq + ":" + sum)
		}
	}
	return audit.ParseHead(text)
}
