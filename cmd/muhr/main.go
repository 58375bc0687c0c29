// Command muhr is the command line of the Muhr certification center, used by
// registration officers, security officers and auditors.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "muhr",
		Short:         "Muhr national PKI and e-signature certification center",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newHSMCmd(),
		newDBCmd(),
		newAuditCmd(),
		newCeremonyCmd(),
		newDevCmd(),
		newTSACmd(),
	)
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "muhr:", err)
		os.Exit(1)
	}
}
