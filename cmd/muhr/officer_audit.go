package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/muhr-pki/muhr/raclient"
)

// addOfficerAudit adds `audit list` to the audit group and lets `audit
// verify` go through the officer API when it is not given a muhrd.yaml:
// auditors use the API, security officers keep the local check on the
// database (`audit verify --config muhrd.yaml`).
func addOfficerAudit(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() != "audit" {
			continue
		}
		c.AddCommand(newAuditListCmd())
		for _, v := range c.Commands() {
			if v.Name() == "verify" && v.RunE != nil {
				local := v.RunE
				v.RunE = func(cmd *cobra.Command, args []string) error {
					if path, ok := officerVerifyConfig(cmd); ok {
						return officerRun(func(cmd *cobra.Command, _ []string) error { return auditVerifyAPI(cmd, path) })(cmd, args)
					}
					return local(cmd, args)
				}
				v.Long += "\n\nWithout --config (or with an officer config), an auditor's check runs through the officer\n" +
					"API instead: the server verifies the chain and its checkpoints and reports the result.\n" +
					"-o json prints the report as JSON."
				if v.Flags().Lookup("output") == nil {
					v.Flags().StringP("output", "o", "table", "output format of the API check: table or json")
				}
			}
		}
	}
}

// officerVerifyConfig decides the verify flavour: the API when --config is
// absent or names an officer config (it has server:), else the local check.
func officerVerifyConfig(cmd *cobra.Command) (string, bool) {
	f := cmd.Flags().Lookup("config")
	if f == nil || !f.Changed {
		// As before officers existed: no officer config anywhere but a
		// muhrd.yaml here means the local check.
		home, _ := os.UserHomeDir()
		p, _ := raclient.ConfigPath("", os.Getenv(raclient.ConfigEnv), home)
		if _, err := os.Stat(p); err != nil && f != nil {
			if _, err := os.Stat(f.Value.String()); err == nil {
				return "", false
			}
		}
		return "", true
	}
	b, err := os.ReadFile(f.Value.String())
	if err != nil {
		return "", false // the local check reports the unreadable file
	}
	var top map[string]any
	if yaml.Unmarshal(b, &top) != nil {
		return "", false
	}
	_, hasServer := top["server"]
	_, hasDB := top["database"]
	return f.Value.String(), hasServer && !hasDB
}

func auditVerifyAPI(cmd *cobra.Command, cfgPath string) error {
	asJSON, err := outputJSON(cmd)
	if err != nil {
		return err
	}
	home, _ := os.UserHomeDir()
	path, from := raclient.ConfigPath(cfgPath, os.Getenv(raclient.ConfigEnv), home)
	cfg, err := raclient.LoadConfig(path)
	if err != nil {
		return fmt.Errorf("%w (chosen by %s; for the local check give --config muhrd.yaml)", err, from)
	}
	c, err := raclient.New(cmd.Context(), raclient.Options{Config: cfg, PIN: func(what string) ([]byte, error) {
		return readPIN(cmd, "", "pin_file in the officer config", what, false)
	}})
	if err != nil {
		return err
	}
	defer c.Close()
	progress(cmd, "the server is checking the audit chain...")
	rep, err := c.VerifyAudit(cmd.Context())
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if asJSON {
		if err := printJSON(w, rep); err != nil {
			return err
		}
	} else {
		status := "OK"
		if !rep.OK {
			status = "FAILED"
		}
		fmt.Fprintf(w, "audit chain %s: %d records, %d checkpoints\nhead: %s\n", status, rep.Records, rep.Checkpoints, dash(rep.Head))
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "problem: %s\n", p)
		}
	}
	if !rep.OK {
		return &officerError{officerExitRefused, fmt.Errorf("the audit chain does not verify: %s", strings.Join(rep.Problems, "; "))}
	}
	return nil
}

func newAuditListCmd() *cobra.Command {
	var since string
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--since T]",
		Short: "List audit records through the officer API (auditor)",
		Args:  officerArgs(),
		RunE: officerRun(func(cmd *cobra.Command, _ []string) error {
			var t0 time.Time
			if since != "" {
				var err error
				if t0, err = parseTime(since); err != nil {
					if d, derr := time.ParseDuration(since); derr == nil && d > 0 {
						t0 = time.Now().Add(-d)
					} else {
						return usagef("--since: %v (or a duration such as 24h)", err)
					}
				}
			}
			if limit < 0 {
				return usagef("--limit must be positive")
			}
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				var recs []raclient.AuditRecord
				after := int64(0)
				for pages := 0; ; pages++ {
					p, err := c.Audit(cmd.Context(), t0, after, 0)
					if err != nil {
						return err
					}
					recs = append(recs, p.Records...)
					if limit > 0 && len(recs) >= limit {
						recs = recs[:limit]
						break
					}
					if p.NextAfterSeq == 0 || p.NextAfterSeq <= after || len(p.Records) == 0 {
						break
					}
					after = p.NextAfterSeq
					if pages > 0 && pages%10 == 0 {
						progress(cmd, "%d records so far...", len(recs))
					}
				}
				w := cmd.OutOrStdout()
				if asJSON {
					return printJSON(w, map[string]any{"records": nonNil(recs)})
				}
				var t table
				t.add("SEQ", "TIME", "ACTOR", "ACTION", "SUBJECT")
				for _, r := range recs {
					t.add(fmt.Sprint(r.Seq), when(r.Time), r.Actor, r.Action, dash(r.Subject))
				}
				return t.write(w)
			})
		}),
	}
	cmd.Flags().StringVar(&since, "since", "", "only records from this time (RFC 3339, 2026-03-01 09:30, or a duration like 24h)")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many records (default all)")
	addOfficerFlags(cmd, false)
	return cmd
}
