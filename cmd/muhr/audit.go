package main

import (
	"context"
	"errors"
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
	var cfgPath, expect, checkpoints string
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
			"It also checks the signed, timestamped checkpoints of the head that muhrd writes outside\n" +
			"the database (audit.checkpoint_dir, or --checkpoints DIR|URL): each must verify, and the\n" +
			"chain must still hold each checkpointed record with the same hash.\n" +
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
			src, err := checkpointSource(cfgPath, checkpoints)
			if err != nil {
				return err
			}
			s, err := openStoreFromConfig(cmd.Context(), cfgPath)
			if err != nil {
				return err
			}
			defer s.Close()
			var rep audit.Report
			var cps checkpointReport
			err = s.ReadSnapshot(cmd.Context(), func(ctx context.Context, r store.Reader) error {
				var err error
				rep, err = audit.Check(ctx, r, audit.Options{Expect: want})
				// Checkpoints are checked even when the chain fails: deleted
				// records that Check notices first are still named as a gap.
				var cpErr error
				cps, cpErr = verifyCheckpoints(ctx, r, src)
				return errors.Join(cpErr, err)
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
			printCheckpoints(out, src, cps)
			if rep.Head != nil {
				fmt.Fprintf(out, "head: seq=%d sha256=%x\n", rep.Records, rep.Head)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "muhrd.yaml", "muhrd configuration file naming the database")
	cmd.Flags().StringVar(&checkpoints, "checkpoints", "", "checkpoint directory, or a muhrd operations URL (http://127.0.0.1:9090); default audit.checkpoint_dir of --config")
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
