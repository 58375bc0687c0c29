package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/secret"
)

func newHSMCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hsm",
		Short: "Set up the PKCS#11 token and see the keys on it",
	}
	cmd.AddCommand(newHSMInitTokenCmd(), newHSMKeysCmd())
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
				return hsmHint(err)
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
			tok, err := pkcs11.Open(cmd.Context(), pkcs11.Config{Module: f.module, TokenLabel: f.label, PIN: pin, Sessions: 1})
			clear(pin)
			if err != nil {
				return hsmHint(err)
			}
			defer tok.Close()
			keys, err := tok.Keys(cmd.Context())
			if err != nil {
				return hsmHint(err)
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
