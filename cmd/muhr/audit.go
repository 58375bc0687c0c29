package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/muhr-pki/muhr/audit"
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check the center's hash-chained audit log",
	}
	cmd.AddCommand(newAuditVerifyCmd())
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Walk the audit chain and name the first record that does not match",
		Long: "Walks the audit log of the database named in muhrd.yaml, checking each record's sequence\n" +
			"number, its link to the previous record and its own hash. Exits non-zero and names the\n" +
			"first bad record when the chain is broken. The printed head hash can be kept elsewhere:\n" +
			"the chain alone cannot show that its newest records were rewritten or removed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openStoreFromConfig(cmd.Context(), cfgPath)
			if err != nil {
				return err
			}
			defer s.Close()
			rep, err := audit.Verify(cmd.Context(), s)
			if err != nil {
				if rep.Records > 0 {
					return fmt.Errorf("%w (the %d records before it are intact)", err, rep.Records)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "audit chain OK: %d records\n", rep.Records)
			if rep.Head != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "head: %x\n", rep.Head)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "muhrd.yaml", "muhrd configuration file naming the database")
	return cmd
}
