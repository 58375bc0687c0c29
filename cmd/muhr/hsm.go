package main

import "github.com/spf13/cobra"

// Placeholder until the hsm commands land; replaced by the real file.
func newHSMCmd() *cobra.Command {
	return &cobra.Command{Use: "hsm", Hidden: true}
}
