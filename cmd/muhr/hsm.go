package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/hsm/softhsm"
	"github.com/muhr-pki/muhr/internal/secret"
)

func newHSMCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hsm",
		Short: "Set up the PKCS#11 token and see the keys on it",
	}
	cmd.AddCommand(newHSMInitTokenCmd(), newHSMKeysCmd(), newHSMBackupCmd(), newHSMRestoreCmd())
	return cmd
}

// tokenFlags name the token; --config supplies what the flags leave out.
type tokenFlags struct {
	config, module, label, pinFile string
}

func (f *tokenFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "muhrd.yaml to take hsm.module, hsm.token_label and hsm.pin_file from (flags override)")
	fl.StringVar(&f.module, "module", "", "path of the PKCS#11 library (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)")
	fl.StringVar(&f.label, "label", "", "token label")
	fl.StringVar(&f.pinFile, "pin-file", "", "file holding the user PIN (mode 0600); prompted for on a terminal if absent")
}

// resolve fills what the flags left empty from --config and checks that
// module and label are known.
func (f *tokenFlags) resolve() error {
	if f.config != "" {
		c, err := config.Load(f.config)
		if err != nil {
			return err
		}
		f.module = cmpOr(f.module, c.HSM.Module)
		f.label = cmpOr(f.label, c.HSM.TokenLabel)
		f.pinFile = cmpOr(f.pinFile, c.HSM.PINFile)
		if c.HSM.SoftHSM2Conf != "" && os.Getenv("SOFTHSM2_CONF") == "" {
			// As muhrd does (internal/center): the demo token's directory.
			if err := os.Setenv("SOFTHSM2_CONF", c.HSM.SoftHSM2Conf); err != nil {
				return err
			}
		}
	}
	if f.module == "" {
		return errors.New("--module is required (or --config muhrd.yaml with hsm.module): the PKCS#11 library, for SoftHSM2 /usr/lib/softhsm/libsofthsm2.so")
	}
	if f.label == "" {
		return errors.New("--label is required (or --config muhrd.yaml with hsm.token_label): the token's label")
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func newHSMInitTokenCmd() *cobra.Command {
	var f tokenFlags
	var soPINFile string
	cmd := &cobra.Command{
		Use:   "init-token",
		Short: "Initialise a token on the first free slot (SoftHSM2, tests) and set its user PIN",
		Long: `init-token runs C_InitToken on the first free slot of the module with the
security officer PIN, labels the token, and sets the user PIN with C_InitPIN.
It refuses a label another token already has. PINs come from files
(--so-pin-file, --pin-file, mode 0600) or, on a terminal, from a prompt.
For SoftHSM2, SOFTHSM2_CONF chooses the token directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.resolve(); err != nil {
				return err
			}
			so, err := readPIN(cmd, soPINFile, "--so-pin-file", "security officer PIN for the new token", true)
			if err != nil {
				return err
			}
			defer clear(so)
			user, err := readPIN(cmd, f.pinFile, "--pin-file", "user PIN for the new token", true)
			if err != nil {
				return err
			}
			defer clear(user)
			if bytes.Equal(so, user) {
				return errors.New("the security officer PIN and the user PIN must differ")
			}
			if err := pkcs11.InitToken(f.module, f.label, so, user); err != nil {
				return f.hint(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "initialised token %q in %s\n", f.label, f.module)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&soPINFile, "so-pin-file", "", "file holding the security officer PIN (mode 0600); prompted for on a terminal if absent")
	return cmd
}

func newHSMKeysCmd() *cobra.Command {
	var f tokenFlags
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List the private keys on the token with their PKCS#11 protection attributes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.resolve(); err != nil {
				return err
			}
			pin, err := readPIN(cmd, f.pinFile, "--pin-file", fmt.Sprintf("user PIN of token %q", f.label), false)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			tok, err := pkcs11.Open(cmd.Context(), pkcs11.Config{Module: f.module, TokenLabel: f.label, PIN: pin, Sessions: 1, Logger: log})
			clear(pin)
			if err != nil {
				return f.hint(err)
			}
			defer tok.Close()
			keys, err := tok.Keys(cmd.Context())
			if err != nil {
				return f.hint(err)
			}
			return printKeys(cmd.OutOrStdout(), keys)
		},
	}
	f.register(cmd)
	return cmd
}

func printKeys(out io.Writer, keys []hsm.KeyInfo) error {
	slices.SortFunc(keys, func(a, b hsm.KeyInfo) int { return strings.Compare(a.Label, b.Label) })
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "LABEL\tTYPE\tID\tSENSITIVE\tEXTRACTABLE\tALWAYS_SENSITIVE\tNEVER_EXTRACTABLE")
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%s\t%s\t%t\t%t\t%t\t%t\n", k.Label, k.Algorithm, hex.EncodeToString(k.ID),
			k.Sensitive, k.Extractable, k.AlwaysSensitive, k.NeverExtractable)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(keys) == 0 {
		fmt.Fprintln(out, "(no private keys on the token)")
	}
	return nil
}

// readPIN reads a PIN from path, or prompts for it when path is empty and
// stdin is a terminal. A PIN is never taken from a flag value or the
// environment, where other users or logs could see it.
func readPIN(cmd *cobra.Command, path, flag, what string, confirm bool) ([]byte, error) {
	if path != "" {
		return secret.ReadFile(path)
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, fmt.Errorf("%s is required: stdin is not a terminal to prompt for the %s", flag, what)
	}
	prompt := func(p string) ([]byte, error) {
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: ", p)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(cmd.ErrOrStderr())
		return b, err
	}
	pin, err := prompt(capitalise(what))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if len(pin) == 0 {
		return nil, fmt.Errorf("empty %s", what)
	}
	if confirm {
		again, err := prompt("Again")
		defer clear(again)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", what, err)
		}
		if !bytes.Equal(pin, again) {
			clear(pin)
			return nil, fmt.Errorf("the two entries of the %s differ", what)
		}
	}
	return pin, nil
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// hint is hsmHint with the restore command for this token spelled out.
func (f *tokenFlags) hint(err error) error {
	var d *softhsm.DamageError
	if !errors.As(err, &d) {
		return hsmHint(err)
	}
	from := "<backup directory>"
	if f.config != "" {
		if b := softhsm.Latest(defaultBackupDir(f.config)); b != "" {
			from = b
		}
	}
	cfg := f.config
	if cfg == "" {
		cfg = "muhrd.yaml"
	} else if abs, err := filepath.Abs(cfg); err == nil {
		cfg = abs
	}
	if abs, err := filepath.Abs(from); err == nil && from != "<backup directory>" {
		from = abs
	}
	return fmt.Errorf("%w\n  fix: muhr hsm restore --config %s --from %s", err, cfg, from)
}

// hsmHint adds what to do about an HSM error the message alone may not say.
func hsmHint(err error) error {
	switch {
	case errors.Is(err, hsm.ErrModule):
		return fmt.Errorf("%w\n  fix: pass --module with the path of the vendor's PKCS#11 library (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)", err)
	case errors.Is(err, hsm.ErrTokenNotFound):
		return fmt.Errorf("%w\n  fix: check --label, or create the token with `muhr hsm init-token`; for SoftHSM2, SOFTHSM2_CONF must name the directory the token was made in", err)
	case errors.Is(err, hsm.ErrPINIncorrect):
		return fmt.Errorf("%w\n  fix: put the token's user PIN in the file given by --pin-file (or hsm.pin_file)", err)
	}
	return err
}

// defaultBackupDir is where token backups of the center configured by
// cfgPath go: backup/ beside muhrd.yaml (the quickstart's $MUHR_HOME).
func defaultBackupDir(cfgPath string) string {
	return filepath.Join(filepath.Dir(cfgPath), "backup")
}

// softHSMLayout is the SoftHSM2 token directory this process uses for
// module, or an error saying why backups do not apply.
func softHSMLayout(module string) (softhsm.Layout, error) {
	l, err := softhsm.Detect(module, os.Getenv("SOFTHSM2_CONF"))
	if errors.Is(err, softhsm.ErrNotSoftHSM) {
		return l, fmt.Errorf("%s is not SoftHSM2: back up a hardware HSM with its vendor's tools", module)
	}
	if err == nil && !l.Files {
		return l, fmt.Errorf("%s uses objectstore.backend = db; muhr hsm backup copies the file backend only", l.Conf)
	}
	return l, err
}

// backupToken writes a verified backup of the SoftHSM2 token label into
// out and says so on w.
func backupToken(ctx context.Context, w io.Writer, module, label, out string) error {
	l, err := softHSMLayout(module)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	m, err := softhsm.Backup(ctx, l.TokenDir, label, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "backed up token %q (serial %s) to %s: %d files, SHA-256 verified (manifest.json)\n", m.Label, m.Serial, out, len(m.Files))
	return nil
}

func newHSMBackupCmd() *cobra.Command {
	var f tokenFlags
	var out string
	cmd := &cobra.Command{
		Use:   "backup --config muhrd.yaml [--out DIR]",
		Short: "Copy the SoftHSM2 token's files to a new directory with a verified SHA-256 manifest",
		Long: `backup copies the token's directory (token.object, the key objects and
generation) while holding the token lock that muhr and muhrd take around
every login, so it never copies a half-written file; then it checks every
copied file against the manifest. DIR (default backup/token-<UTC time> beside
muhrd.yaml) must not exist; it is made mode 0700 with files 0600. The keys
stay encrypted under the token's PINs: the backup is as safe as the PINs.
No PIN is needed. Hardware HSMs are backed up with their vendor's tools.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.resolve(); err != nil {
				return err
			}
			if out == "" {
				if f.config == "" {
					return errors.New("--out is required without --config")
				}
				out = filepath.Join(defaultBackupDir(f.config), softhsm.BackupName(time.Now()))
			}
			return backupToken(cmd.Context(), cmd.OutOrStdout(), f.module, f.label, out)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", "new directory for the backup (default backup/token-<UTC time> beside --config)")
	return cmd
}

func newHSMRestoreCmd() *cobra.Command {
	var f tokenFlags
	var from string
	var other bool
	cmd := &cobra.Command{
		Use:   "restore --config muhrd.yaml --from DIR",
		Short: "Put a SoftHSM2 token back from a backup made by muhr hsm backup",
		Long: `restore verifies the backup (every file against manifest.json, and that its
token.object is a whole token file), takes the token lock, copies the token
directory it replaces aside (beside DIR, as replaced-<UTC time>) and writes
the backup's directory in its place. It refuses a backup of another token
label, or of another serial than the intact token it would replace, unless
--other-token. A running muhrd finds the restored token by itself within
seconds (it re-initialises the PKCS#11 library when the token reappears).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return errors.New("--from is required: a directory written by muhr hsm backup")
			}
			if err := f.resolve(); err != nil {
				return err
			}
			l, err := softHSMLayout(f.module)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			aside := filepath.Join(filepath.Dir(filepath.Clean(from)), "replaced-"+time.Now().UTC().Format("20060102T150405Z"))
			res, err := softhsm.Restore(ctx, l.TokenDir, f.label, from, softhsm.RestoreOptions{OtherToken: other, Aside: aside})
			if errors.Is(err, softhsm.ErrOtherToken) {
				return fmt.Errorf("%w\n  fix: pick the backup of this token, or pass --other-token if replacing it is intended", err)
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "restored token %q (serial %s, backed up %s) to %s\n", res.Manifest.Label, res.Manifest.Serial,
				res.Manifest.Created.Format(time.RFC3339), res.Dir)
			if res.Replaced != "" {
				fmt.Fprintf(w, "the token directory it replaced is kept in %s\n", res.Replaced)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "backup directory (written by muhr hsm backup)")
	cmd.Flags().BoolVar(&other, "other-token", false, "allow a backup of another label or serial than the configured token")
	return cmd
}
