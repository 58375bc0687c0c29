package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/internal/center"
	"github.com/muhr-pki/muhr/store"
)

// Revocation, suspension and resumption for development, until the
// officers' API (and `muhr cert ...` on it) exists. They need only the
// database: no token login.

// statusCenter is what the status commands open.
type statusCenter struct {
	st  store.Store
	rev *ca.Revoker
}

func openStatusCenter(cmd *cobra.Command, cfgPath string) (*statusCenter, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	st, err := center.OpenStore(cmd.Context(), cfg.Database, center.ConfigPath(cfgPath))
	if err != nil {
		return nil, err
	}
	rev, err := ca.NewRevoker(ca.RevokerOptions{Store: st, MaxHold: cfg.Revocation.Effective().MaxHold})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &statusCenter{st: st, rev: rev}, nil
}

func devActor() string {
	if u := os.Getenv("USER"); u != "" {
		return "dev-cli:" + u
	}
	return "dev-cli"
}

// parseSerial reads a serial in hex as tools print it: "1f2e", "1F:2E",
// "0x1f2e".
func parseSerial(s string) (*big.Int, error) {
	h := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "0x")
	h = strings.ReplaceAll(h, ":", "")
	n, ok := new(big.Int).SetString(h, 16)
	if h == "" || !ok || strings.ContainsAny(h, "+-_") || n.Sign() <= 0 || n.BitLen() > 160 {
		return nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("serial %q: want a positive hex number of at most 20 octets (e.g. 1f2e or 1F:2E)", s))
	}
	return n, nil
}

// whichCA returns caID when set; otherwise the one CA with a certificate of
// that serial.
func (c *statusCenter) whichCA(ctx context.Context, caID string, serial *big.Int) (string, error) {
	if caID != "" {
		return caID, nil
	}
	cas, err := c.st.ListCAs(ctx)
	if err != nil {
		return "", err
	}
	var found []string
	for _, a := range cas {
		_, err := c.st.GetCertificate(ctx, a.ID, serial)
		switch {
		case err == nil:
			found = append(found, a.ID)
		case !errors.Is(err, store.ErrNotFound):
			return "", err
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%w: no CA of this center issued serial %x", ca.ErrUnknownCertificate, serial)
	case 1:
		return found[0], nil
	}
	return "", errkind.Wrap(errkind.Invalid, fmt.Errorf("serial %x was issued by CAs %s: name one with --ca", serial, strings.Join(found, ", ")))
}

func describe(ch store.StatusChange) string {
	s := fmt.Sprintf("certificate %x of CA %s is %s", ch.Serial, ch.IssuerID, ch.Status)
	if ch.RevokedAt != nil {
		s += " since " + ch.RevokedAt.Format(time.RFC3339)
	}
	if ch.RevocationReason != nil {
		if *ch.RevocationReason == store.ReasonCertificateHold {
			s += " (certificateHold)"
		} else {
			s += " (" + ca.Reason(*ch.RevocationReason).String() + ")"
		}
	}
	if ch.InvalidityDate != nil {
		s += ", invalid since " + ch.InvalidityDate.Format(time.RFC3339)
	}
	return s + fmt.Sprintf("; status change #%d", ch.Seq)
}

func parseCompromise(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("compromise time %q: want RFC 3339, e.g. 2026-03-21T09:30:00Z: %w", s, err))
	}
	return &t, nil
}

func newDevRevokeCmd() *cobra.Command {
	var cfgPath, reason, compromise, caID, batch string
	cmd := &cobra.Command{
		Use:   "revoke SERIAL --reason R [--compromise-time T] [--ca ID] | revoke --batch FILE",
		Short: "Revoke a certificate (final), or every line of a CSV file",
		Long: "Revokes the certificate with serial SERIAL (hex) with --reason, one of\n  " + ca.ReasonNames + ",\n" +
			"recording the change, its reason and the optional --compromise-time (RFC 3339; the CRL's\n" +
			"invalidity date) in the audit log. --ca names the issuing CA (default: the one that issued\n" +
			"SERIAL). A revocation is final; an unknown, already revoked or expired certificate is\n" +
			"refused and nothing changes. --batch FILE revokes each line of a CSV file of\n" +
			"  serial,reason[,compromise-time]\n" +
			"(a header line and # comments are skipped); the whole file is checked first, then each\n" +
			"line is revoked on its own (all or nothing per line) and reported.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch != "" {
				if len(args) > 0 || reason != "" || compromise != "" {
					return errkind.Wrap(errkind.Invalid, errors.New("--batch takes no SERIAL, --reason or --compromise-time: they are in the file"))
				}
				return revokeBatch(cmd, cfgPath, caID, batch)
			}
			if len(args) != 1 {
				return errkind.Wrap(errkind.Invalid, fmt.Errorf("want one SERIAL (or --batch FILE), got %d arguments", len(args)))
			}
			if reason == "" {
				return errkind.Wrap(errkind.Invalid, errors.New("--reason is required: one of "+ca.ReasonNames))
			}
			serial, err := parseSerial(args[0])
			if err != nil {
				return err
			}
			r, err := ca.ParseReason(reason)
			if err != nil {
				return err
			}
			ct, err := parseCompromise(compromise)
			if err != nil {
				return err
			}
			c, err := openStatusCenter(cmd, cfgPath)
			if err != nil {
				return err
			}
			defer c.st.Close()
			issuer, err := c.whichCA(cmd.Context(), caID, serial)
			if err != nil {
				return err
			}
			ch, err := c.rev.Revoke(cmd.Context(), issuer, serial, r, ct, devActor())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "revoked: "+describe(ch))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", defaultConfig(), "muhrd.yaml of the center")
	f.StringVar(&reason, "reason", "", ca.ReasonNames)
	f.StringVar(&compromise, "compromise-time", "", "when the key was (or may have been) compromised, RFC 3339")
	f.StringVar(&caID, "ca", "", "issuing CA id (default: the CA that issued the serial)")
	f.StringVar(&batch, "batch", "", "CSV file of serial,reason[,compromise-time] lines")
	return cmd
}

type batchLine struct {
	line       int
	serial     *big.Int
	reason     ca.Reason
	compromise *time.Time
}

// readBatch parses the whole file; any bad line refuses the file.
func readBatch(r io.Reader, name string) ([]batchLine, error) {
	cr := csv.NewReader(r)
	cr.Comment, cr.FieldsPerRecord, cr.TrimLeadingSpace = '#', -1, true
	var out []batchLine
	var bad []string
	for first := true; ; first = false {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("batch %s: %w", name, err))
		}
		if first && strings.EqualFold(strings.TrimSpace(rec[0]), "serial") {
			continue
		}
		fail := func(err error) { bad = append(bad, fmt.Sprintf("line %d: %v", line, err)) }
		if len(rec) < 2 || len(rec) > 3 {
			fail(fmt.Errorf("%d fields, want serial,reason[,compromise-time]", len(rec)))
			continue
		}
		l := batchLine{line: line}
		var err1, err2, err3 error
		l.serial, err1 = parseSerial(rec[0])
		l.reason, err2 = ca.ParseReason(strings.TrimSpace(rec[1]))
		if len(rec) == 3 {
			l.compromise, err3 = parseCompromise(strings.TrimSpace(rec[2]))
		}
		if err := errors.Join(err1, err2, err3); err != nil {
			fail(err)
			continue
		}
		out = append(out, l)
	}
	if len(bad) > 0 {
		return nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("batch %s: nothing was revoked; fix these lines first:\n  %s", name, strings.Join(bad, "\n  ")))
	}
	if len(out) == 0 {
		return nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("batch %s: no lines to revoke", name))
	}
	return out, nil
}

func revokeBatch(cmd *cobra.Command, cfgPath, caID, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return errkind.Wrap(errkind.Invalid, fmt.Errorf("--batch: %w", err))
	}
	lines, err := readBatch(f, path)
	f.Close()
	if err != nil {
		return err
	}
	c, err := openStatusCenter(cmd, cfgPath)
	if err != nil {
		return err
	}
	defer c.st.Close()
	out := cmd.OutOrStdout()
	var firstErr error
	failed, firstLine := 0, 0
	for i, l := range lines {
		if err := cmd.Context().Err(); err != nil {
			return fmt.Errorf("batch %s: stopped before line %d (%d of %d lines done, %d failed): %w", path, l.line, i, len(lines), failed, err)
		}
		issuer, err := c.whichCA(cmd.Context(), caID, l.serial)
		var ch store.StatusChange
		if err == nil {
			ch, err = c.rev.Revoke(cmd.Context(), issuer, l.serial, l.reason, l.compromise, devActor())
		}
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr, firstLine = err, l.line
			}
			fmt.Fprintf(out, "line %d: %x: FAILED: %v\n", l.line, l.serial, err)
			continue
		}
		fmt.Fprintf(out, "line %d: %x: revoked: %s\n", l.line, l.serial, describe(ch))
	}
	fmt.Fprintf(out, "batch %s: %d revoked, %d failed, of %d lines\n", path, len(lines)-failed, failed, len(lines))
	if firstErr != nil {
		// The exit code is that of the first failure's kind.
		return errkind.Wrap(errkind.Of(firstErr), fmt.Errorf("batch %s: %d of %d lines failed (first: line %d: %w)", path, failed, len(lines), firstLine, firstErr))
	}
	return nil
}

func newDevSuspendCmd() *cobra.Command { return devHoldCmd(true) }
func newDevResumeCmd() *cobra.Command  { return devHoldCmd(false) }

func devHoldCmd(suspend bool) *cobra.Command {
	var cfgPath, caID string
	cmd := &cobra.Command{
		Use:   "suspend SERIAL [--ca ID]",
		Short: "Put a certificate on hold (certificateHold); resume lifts it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			serial, err := parseSerial(args[0])
			if err != nil {
				return err
			}
			c, err := openStatusCenter(cmd, cfgPath)
			if err != nil {
				return err
			}
			defer c.st.Close()
			issuer, err := c.whichCA(cmd.Context(), caID, serial)
			if err != nil {
				return err
			}
			var ch store.StatusChange
			verb := "suspended"
			if suspend {
				ch, err = c.rev.Suspend(cmd.Context(), issuer, serial, devActor())
			} else {
				verb = "resumed"
				ch, err = c.rev.Resume(cmd.Context(), issuer, serial, devActor())
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), verb+": "+describe(ch))
			return nil
		},
	}
	if !suspend {
		cmd.Use = "resume SERIAL [--ca ID]"
		cmd.Short = "Lift a certificate's hold (only a hold: a revocation is final)"
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", defaultConfig(), "muhrd.yaml of the center")
	f.StringVar(&caID, "ca", "", "issuing CA id (default: the CA that issued the serial)")
	return cmd
}
