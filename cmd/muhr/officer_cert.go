package main

import (
	"encoding/csv"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/muhr-pki/muhr/internal/secret"
	"github.com/muhr-pki/muhr/raclient"
)

func newCertCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cert", Short: "Fetch, list, revoke, suspend and resume certificates (through the officer API)"}
	cmd.AddCommand(newCertGetCmd(), newCertListCmd(), newCertRevokeCmd(), newCertSuspendCmd(), newCertResumeCmd())
	return cmd
}

// serialArg parses a serial argument as openssl prints it (exit 2 if not).
func serialArg(s string) (string, error) {
	n, err := raclient.NormalSerial(s)
	if err != nil {
		return "", &officerError{officerExitUsage, err}
	}
	return n, nil
}

func newCertGetCmd() *cobra.Command {
	var out string
	var der bool
	cmd := &cobra.Command{
		Use:   "get SERIAL [--out FILE] [--der]",
		Short: "Fetch a certificate (PEM on stdout, or written to --out)",
		Long:  "SERIAL is hex as `openssl x509 -noout -serial` prints it (serial=... accepted, any case).",
		Args:  officerArgs("SERIAL"),
		RunE: officerRun(func(cmd *cobra.Command, args []string) error {
			serial, err := serialArg(args[0])
			if err != nil {
				return err
			}
			if f, ok := cmd.OutOrStdout().(*os.File); ok && der && out == "" && term.IsTerminal(int(f.Fd())) {
				return usagef("--der writes binary: give --out FILE, or redirect stdout")
			}
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				crt, err := c.Certificate(cmd.Context(), serial)
				if err != nil {
					return err
				}
				body := []byte(crt.Certificate)
				if der {
					blk, _ := pem.Decode(body)
					if blk == nil {
						return fmt.Errorf("the server sent no PEM certificate for %s", serial)
					}
					body = blk.Bytes
				}
				w := cmd.OutOrStdout()
				if out != "" {
					if err := os.WriteFile(out, body, 0o644); err != nil {
						return usagef("--out: %v", err)
					}
				}
				switch {
				case asJSON:
					return printJSON(w, crt)
				case out != "":
					if err := printCert(w, crt); err != nil {
						return err
					}
					_, err := fmt.Fprintf(w, "written to %s\n", out)
					return err
				}
				_, err = w.Write(body)
				return err
			})
		}),
	}
	cmd.Flags().StringVar(&out, "out", "", "write the certificate to this file (and print a summary)")
	cmd.Flags().BoolVar(&der, "der", false, "DER instead of PEM")
	addOfficerFlags(cmd, false)
	return cmd
}

func printCert(w io.Writer, c raclient.Certificate) error {
	kv := []string{"serial", c.Serial, "status", c.Status, "subject", c.Subject, "subscriber", c.SubscriberID,
		"profile", c.Profile, "issuer CA", c.IssuerCA, "not before", when(c.NotBefore), "not after", when(c.NotAfter)}
	if r := c.Revocation; r != nil {
		kv = append(kv, "reason", r.Reason, "since", when(r.Time), "invalid since", when(r.InvalidityDate))
	}
	return fields(w, kv...)
}

func newCertListCmd() *cobra.Command {
	var sub string
	cmd := &cobra.Command{
		Use:   "list --subscriber ID",
		Short: "List a subscriber's certificates",
		Args:  officerArgs(),
		RunE: officerRun(func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "subscriber"); err != nil {
				return err
			}
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				cs, err := c.ListCertificates(cmd.Context(), sub)
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				if asJSON {
					return printJSON(w, map[string]any{"certificates": nonNil(cs)})
				}
				if len(cs) == 0 {
					fmt.Fprintf(w, "subscriber %s has no certificates\n", sub)
					return nil
				}
				var t table
				t.add("SERIAL", "STATUS", "PROFILE", "NOT AFTER", "SUBJECT")
				for _, c := range cs {
					t.add(c.Serial, c.Status, c.Profile, when(c.NotAfter), c.Subject)
				}
				return t.write(w)
			})
		}),
	}
	cmd.Flags().StringVar(&sub, "subscriber", "", "subscriber ID")
	addOfficerFlags(cmd, false)
	return cmd
}

// parseTime takes RFC 3339, or a date and time in UTC as officers type it.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2026-03-01T09:30:00Z) or 2026-03-01 09:30 (UTC)", s)
}

func checkReason(r string) error {
	if !slices.Contains(raclient.RevokeReasons(), r) {
		return fmt.Errorf("reason %q: use one of %s", r, strings.Join(raclient.RevokeReasons(), ", "))
	}
	return nil
}

func newCertRevokeCmd() *cobra.Command {
	var reason, compromise, batch string
	cmd := &cobra.Command{
		Use:   "revoke SERIAL --reason R [--compromise-time T] | revoke --batch FILE",
		Short: "Revoke a certificate, or every certificate listed in a CSV file",
		Long: "Reasons: " + strings.Join(raclient.RevokeReasons(), ", ") + ".\n" +
			"--batch FILE takes CSV lines `serial,reason[,compromise_time]` (a header line and #\n" +
			"comments are skipped). Each line is revoked on its own, all or nothing; a report follows,\n" +
			"and the exit status is non-zero if any line failed. It stops at the first line the server\n" +
			"did not answer, listing the rest as not attempted.",
		RunE: officerRun(func(cmd *cobra.Command, args []string) error {
			if batch != "" {
				if len(args) > 0 || reason != "" || compromise != "" {
					return usagef("--batch takes neither a SERIAL nor --reason/--compromise-time: they are in the file")
				}
				return apiRevokeBatch(cmd, batch)
			}
			if err := officerArgs("SERIAL")(cmd, args); err != nil {
				return err
			}
			serial, err := serialArg(args[0])
			if err != nil {
				return err
			}
			if reason == "" {
				return usagef("--reason is required: one of %s", strings.Join(raclient.RevokeReasons(), ", "))
			}
			if err := checkReason(reason); err != nil {
				return usagef("--%v", err)
			}
			var ct time.Time
			if compromise != "" {
				if ct, err = parseTime(compromise); err != nil {
					return usagef("--compromise-time: %v", err)
				}
			}
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				crt, err := c.Revoke(cmd.Context(), serial, reason, ct)
				if err != nil {
					if errors.As(err, new(*raclient.Unreachable)) {
						return fmt.Errorf("%w\n  note: the revocation may have reached the server: `muhr cert get %s -o json` shows its status", err, serial)
					}
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), crt)
				}
				return printCert(cmd.OutOrStdout(), crt)
			})
		}),
	}
	cmd.Flags().StringVar(&reason, "reason", "", "revocation reason")
	cmd.Flags().StringVar(&compromise, "compromise-time", "", "when the key was (or may have been) compromised (RFC 3339)")
	cmd.Flags().StringVar(&batch, "batch", "", "CSV file of serial,reason[,compromise_time] lines")
	addOfficerFlags(cmd, false)
	return cmd
}

// revokeLine is one line of a batch revocation and its outcome.
type revokeLine struct {
	Line   int    `json:"line"`
	Serial string `json:"serial"`
	Reason string `json:"reason,omitempty"`
	Status string `json:"status"` // revoked, failed, not_attempted
	Error  string `json:"error,omitempty"`
	code   int
}

func apiRevokeBatch(cmd *cobra.Command, path string) error {
	asJSON, err := outputJSON(cmd)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return usagef("--batch: %v", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.Comment = '#'
	r.TrimLeadingSpace = true
	var lines []revokeLine
	var jobs []struct {
		i      int
		serial string
		reason string
		at     time.Time
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return usagef("--batch %s: %v", path, err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) >= 1 && strings.EqualFold(strings.TrimSpace(rec[0]), "serial") {
			continue // header
		}
		bl := revokeLine{Line: line, Status: "failed", code: officerExitUsage}
		if len(rec) > 0 {
			bl.Serial = strings.TrimSpace(rec[0])
		}
		var at time.Time
		switch {
		case len(rec) < 2 || len(rec) > 3:
			bl.Error = "expected serial,reason[,compromise_time]"
		default:
			bl.Reason = strings.TrimSpace(rec[1])
			s, serr := raclient.NormalSerial(bl.Serial)
			if serr != nil {
				bl.Error = serr.Error()
				break
			}
			bl.Serial = s
			if rerr := checkReason(bl.Reason); rerr != nil {
				bl.Error = rerr.Error()
				break
			}
			if len(rec) == 3 && strings.TrimSpace(rec[2]) != "" {
				if at, err = parseTime(strings.TrimSpace(rec[2])); err != nil {
					bl.Error = "compromise_time: " + err.Error()
					break
				}
			}
			bl.Status, bl.code = "pending", 0
		}
		lines = append(lines, bl)
		if bl.Status == "pending" {
			jobs = append(jobs, struct {
				i      int
				serial string
				reason string
				at     time.Time
			}{len(lines) - 1, bl.Serial, bl.Reason, at})
		}
	}
	if len(lines) == 0 {
		return usagef("--batch %s lists no certificates", path)
	}
	err = withClient(cmd, func(c *raclient.Client, _ bool) error {
		stopped := false
		for n, j := range jobs {
			bl := &lines[j.i]
			if stopped {
				bl.Status, bl.Error, bl.code = "not_attempted", "the server stopped answering", officerExitUnreachable
				continue
			}
			progress(cmd, "[%d/%d] revoking %s (%s)", n+1, len(jobs), j.serial, j.reason)
			_, err := c.Revoke(cmd.Context(), j.serial, j.reason, j.at)
			if err == nil {
				bl.Status = "revoked"
				continue
			}
			bl.Status, bl.Error = "failed", err.Error()
			var un *raclient.Unreachable
			if errors.As(err, &un) {
				bl.code, stopped = officerExitUnreachable, true
			} else {
				bl.code = officerExitRefused
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// One exit code for the batch: no server (3) before refusals (1)
	// before lines that were never sent (2).
	rank := map[int]int{officerExitUnreachable: 3, officerExitRefused: 2, officerExitUsage: 1}
	ok, code := 0, 0
	for _, l := range lines {
		if l.Status == "revoked" {
			ok++
		}
		if rank[l.code] > rank[code] {
			code = l.code
		}
	}
	w := cmd.OutOrStdout()
	if asJSON {
		if err := printJSON(w, map[string]any{"results": lines, "revoked": ok, "failed": len(lines) - ok}); err != nil {
			return err
		}
	} else {
		var t table
		t.add("LINE", "SERIAL", "REASON", "RESULT", "ERROR")
		for _, l := range lines {
			t.add(fmt.Sprint(l.Line), dash(l.Serial), dash(l.Reason), l.Status, dash(l.Error))
		}
		if err := t.write(w); err != nil {
			return err
		}
		fmt.Fprintf(w, "%d revoked, %d failed\n", ok, len(lines)-ok)
	}
	if code != 0 {
		return &officerError{code, fmt.Errorf("batch %s: %d of %d lines failed (see the report)", path, len(lines)-ok, len(lines))}
	}
	return nil
}

func newCertSuspendCmd() *cobra.Command {
	var passFile string
	cmd := &cobra.Command{
		Use:   "suspend SERIAL [--passphrase-file F]",
		Short: "Put a certificate on hold (reversible with resume)",
		Long: "--passphrase-file is for a subscriber who calls in: the file (mode 0600) holds the revocation\n" +
			"passphrase they gave, checked by the server; wrong or too many attempts are refused.",
		Args: officerArgs("SERIAL"),
		RunE: officerRun(func(cmd *cobra.Command, args []string) error {
			serial, err := serialArg(args[0])
			if err != nil {
				return err
			}
			var pass string
			if passFile != "" {
				p, err := secret.ReadFile(passFile)
				if err != nil {
					return usagef("--passphrase-file: %v", err)
				}
				pass = string(p)
				clear(p)
			}
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				crt, err := c.Suspend(cmd.Context(), serial, pass)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), crt)
				}
				return printCert(cmd.OutOrStdout(), crt)
			})
		}),
	}
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "file holding the subscriber's revocation passphrase")
	addOfficerFlags(cmd, false)
	return cmd
}

func newCertResumeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resume SERIAL",
		Short: "Take a suspended certificate off hold",
		Args:  officerArgs("SERIAL"),
		RunE: officerRun(func(cmd *cobra.Command, args []string) error {
			serial, err := serialArg(args[0])
			if err != nil {
				return err
			}
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				crt, err := c.Resume(cmd.Context(), serial)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), crt)
				}
				return printCert(cmd.OutOrStdout(), crt)
			})
		}),
	}
	addOfficerFlags(cmd, false)
	return cmd
}
