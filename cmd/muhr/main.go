// Command muhr is the command line of the Muhr certification center, used by
// registration officers, security officers and auditors.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/store"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "muhr",
		Short:         "Muhr national PKI and e-signature certification center",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// A wrong flag is invalid input like any other (exit 2).
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return errkind.Wrap(errkind.Invalid, err) })
	root.AddCommand(
		newHSMCmd(),
		newDBCmd(),
		newAuditCmd(),
		newCeremonyCmd(),
		newDevCmd(),
		newTSACmd(),
		newCRLCmd(),
		newVerifyCmd(), newSignCmd(),
	)
	root.AddCommand(newSubscriberCmd(), newRequestCmd(), newCertCmd(), newOfficerCmd(), newTokenCmd())
	addOfficerAudit(root)
	addOfficerBootstrap(root) // muhr officer bootstrap (local; joins the officer group)
	mergeGroups(root)
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		code, msg := exitFor(err)
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(code)
	}
}

// Exit codes, one per error kind, so scripts can branch without parsing
// messages.
const (
	exitInternal    = 1 // a bug or a broken invariant (and errors nobody classified)
	exitInvalid     = 2 // bad input or usage: the same command will fail again
	exitForbidden   = 3 // not allowed (PIN refused, policy)
	exitNotFound    = 4 // no such CA, key, token serial...
	exitConflict    = 5 // clashes with the current state (exists, in progress, schema behind)
	exitUnavailable = 6 // a dependency is down (database, HSM, clock): retry later
)

// exitFor is the one place where error kinds become the CLI's exit codes
// and messages: the error's own text, and a hint when the kind says what
// to do next.
func exitFor(err error) (code int, msg string) {
	msg = "muhr: " + err.Error()
	// Officer commands have their own codes (0 ok, 1 refused, 2 usage, 3 unreachable).
	var oe *officerError
	if errors.As(err, &oe) {
		return oe.code, msg
	}
	if errors.Is(err, store.ErrSchemaBehind) {
		// Unavailable to the store, but retrying never helps: the message
		// names the command that migrates. The state clashes (exit 5).
		return exitConflict, msg
	}
	switch errkind.Of(err) {
	case errkind.Invalid:
		return exitInvalid, msg
	case errkind.Forbidden:
		return exitForbidden, msg
	case errkind.NotFound:
		return exitNotFound, msg
	case errkind.Conflict:
		return exitConflict, msg
	case errkind.Unavailable:
		return exitUnavailable, msg + "\nmuhr: temporarily unavailable; retry when the database, token or clock is back"
	}
	return exitInternal, msg
}
