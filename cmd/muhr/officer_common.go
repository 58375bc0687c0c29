package main

// Shared plumbing of the officer commands (subscriber, request, cert,
// officer, token, audit list): they talk only to the officer API, exit
// 0 ok, 1 refused by the server, 2 usage, 3 server unreachable, and print
// a table or, with -o json, the API's objects.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"golang.org/x/text/width"

	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/raclient"
)

// Exit codes of the officer commands (API.md).
const (
	officerExitRefused     = 1
	officerExitUsage       = 2
	officerExitUnreachable = 3
)

// officerError carries an officer command's exit code to exitFor.
type officerError struct {
	code int
	err  error
}

func (e *officerError) Error() string { return e.err.Error() }
func (e *officerError) Unwrap() error { return e.err }
func (e *officerError) ExitCode() int { return e.code }

// officerExit classifies an officer command's error: the server's refusal,
// no server, or (everything else) something the officer must fix here.
func officerExit(err error) error {
	if err == nil {
		return nil
	}
	var oe *officerError
	if errors.As(err, &oe) {
		return err
	}
	var ref *raclient.Refused
	var un *raclient.Unreachable
	switch {
	case errors.As(err, &ref):
		return &officerError{officerExitRefused, err}
	case errors.As(err, &un):
		return &officerError{officerExitUnreachable, err}
	}
	return &officerError{officerExitUsage, err}
}

// usagef is a usage error (exit 2).
func usagef(format string, args ...any) error {
	return &officerError{officerExitUsage, errkind.Wrap(errkind.Invalid, fmt.Errorf(format, args...))}
}

// officerRun wraps a RunE so its errors carry the officer exit codes.
func officerRun(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error { return officerExit(fn(cmd, args)) }
}

// officerArgs checks the positional arguments: exactly the names given.
func officerArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			want := "no arguments"
			if len(names) > 0 {
				want = strings.Join(names, " ")
			}
			return usagef("%s takes %s, got %d argument(s); see `%s --help`", cmd.CommandPath(), want, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// requireFlags is MarkFlagRequired with exit 2 and the fix in the message.
func requireFlags(cmd *cobra.Command, names ...string) error {
	var missing []string
	for _, n := range names {
		if f := cmd.Flags().Lookup(n); f != nil && !f.Changed {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		return usagef("%s needs %s; see `%s --help`", cmd.CommandPath(), strings.Join(missing, ", "), cmd.CommandPath())
	}
	return nil
}

// addOfficerFlags puts --config and -o on an officer command (persistent
// on a group, so every subcommand has them).
func addOfficerFlags(cmd *cobra.Command, persistent bool) {
	fs := cmd.Flags()
	if persistent {
		fs = cmd.PersistentFlags()
	}
	fs.String("config", "", "officer config (default $MUHR_CONFIG, else ~/.config/muhr/config.yaml)")
	fs.StringP("output", "o", "table", "output format: table or json")
}

// outputJSON reads -o: true for json, false for table.
func outputJSON(cmd *cobra.Command) (bool, error) {
	v, _ := cmd.Flags().GetString("output")
	switch v {
	case "json":
		return true, nil
	case "table", "":
		return false, nil
	}
	return false, usagef("-o %q: use -o json or -o table", v)
}

// officerConfig finds and loads the officer config.
func officerConfig(cmd *cobra.Command) (raclient.Config, error) {
	flag, _ := cmd.Flags().GetString("config")
	home, _ := os.UserHomeDir()
	path, from := raclient.ConfigPath(flag, os.Getenv(raclient.ConfigEnv), home)
	cfg, err := raclient.LoadConfig(path)
	if err != nil {
		return raclient.Config{}, fmt.Errorf("%w (chosen by %s)", err, from)
	}
	return cfg, nil
}

// openClient connects nothing yet: it loads the officer's credentials.
func openClient(cmd *cobra.Command) (*raclient.Client, error) {
	cfg, err := officerConfig(cmd)
	if err != nil {
		return nil, err
	}
	return raclient.New(cmd.Context(), raclient.Options{Config: cfg, PIN: func(what string) ([]byte, error) {
		return readPIN(cmd, "", "pin_file in the officer config", what, false)
	}})
}

// withClient runs fn with a client and closes it after.
func withClient(cmd *cobra.Command, fn func(c *raclient.Client, asJSON bool) error) error {
	asJSON, err := outputJSON(cmd)
	if err != nil {
		return err
	}
	c, err := openClient(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c, asJSON)
}

// printJSON writes v as indented JSON, non-ASCII as is.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// progress tells the officer on stderr what a slow step is doing.
func progress(cmd *cobra.Command, format string, args ...any) {
	fmt.Fprintf(cmd.ErrOrStderr(), "muhr: "+format+"\n", args...)
}

// displayWidth is how many terminal columns s takes: combining marks
// none, East Asian wide characters two, others one.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		case width.LookupRune(r).Kind() == width.EastAsianWide || width.LookupRune(r).Kind() == width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}

// table prints rows in columns aligned by display width (tabwriter
// counts runes, so a combining mark in a name would shift its row).
type table struct {
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(c)+2))
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fields prints name: value lines for one object, values aligned.
func fields(w io.Writer, kv ...string) error {
	var t table
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			t.add(kv[i]+":", kv[i+1])
		}
	}
	return t.write(w)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// mergeGroups folds top-level commands that share a name into the first
// (the officer group is built here and `officer bootstrap` elsewhere),
// so either may be added in any order.
func mergeGroups(root *cobra.Command) {
	seen := map[string]*cobra.Command{}
	for _, c := range root.Commands() {
		first, ok := seen[c.Name()]
		if !ok {
			seen[c.Name()] = c
			continue
		}
		for _, sub := range c.Commands() {
			c.RemoveCommand(sub)
			first.AddCommand(sub)
		}
		root.RemoveCommand(c)
	}
}

// when shortens an API time for a table: seconds, UTC ("" stays "").
func when(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format(time.RFC3339)
}
