package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/muhr-pki/muhr/raclient"
)

func newOfficerCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "officer", Short: "Manage registration officers (admin, through the officer API)"}
	cmd.AddCommand(newOfficerAddCmd(), newOfficerListCmd(), newOfficerDeactivateCmd())
	return cmd
}

func officerRoles() []string { return []string{"registrar", "approver", "auditor", "admin"} }

func newOfficerAddCmd() *cobra.Command {
	var name, csrPath, outDir string
	var roles []string
	cmd := &cobra.Command{
		Use:   "add --name N --roles r1,r2 (--csr FILE | --out-dir DIR)",
		Short: "Create an officer: certify their CSR, or make a key here and write key, certificate and config",
		Long: "Roles: registrar, approver, auditor, admin (several allowed).\n" +
			"--csr FILE: the officer made their own key (e.g. on their card); the certificate is printed.\n" +
			"--out-dir DIR: a new ECDSA P-256 key is made here and DIR/NAME.key (0600), NAME.crt and\n" +
			"NAME.yaml (an officer config for the same server, to give to the officer) are written.",
		Args: officerArgs(),
		RunE: officerRun(func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "name", "roles"); err != nil {
				return err
			}
			if (csrPath == "") == (outDir == "") {
				return usagef("give exactly one of --csr FILE (the officer's own CSR) or --out-dir DIR (make a key here)")
			}
			for _, r := range roles {
				if !slices.Contains(officerRoles(), r) {
					return usagef("--roles: %q is not a role; use %s", r, strings.Join(officerRoles(), ", "))
				}
			}
			var csrPEM string
			var keyPEM []byte
			if csrPath != "" {
				b, err := os.ReadFile(csrPath)
				if err != nil {
					return usagef("--csr: %v", err)
				}
				if _, err := x509.ParseCertificateRequest(derOf(b)); err != nil {
					return usagef("--csr %s is not a CSR: %v", csrPath, err)
				}
				csrPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: derOf(b)}))
			} else {
				if err := os.MkdirAll(outDir, 0o700); err != nil {
					return usagef("--out-dir: %v", err)
				}
				for _, ext := range []string{".key", ".crt", ".yaml"} {
					if _, err := os.Stat(filepath.Join(outDir, name+ext)); err == nil {
						return usagef("%s already exists; choose another --out-dir or remove it", filepath.Join(outDir, name+ext))
					}
				}
				k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				if err != nil {
					return err
				}
				der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, k)
				if err != nil {
					return err
				}
				p8, err := x509.MarshalPKCS8PrivateKey(k)
				if err != nil {
					return err
				}
				csrPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
				keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
			}
			cfg, err := officerConfig(cmd)
			if err != nil {
				return err
			}
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				o, err := c.CreateOfficer(cmd.Context(), raclient.OfficerInput{Name: name, Roles: roles, CSR: csrPEM})
				if err != nil {
					return err
				}
				if outDir != "" {
					if err := writeOfficerFiles(outDir, name, keyPEM, o.Certificate, cfg); err != nil {
						return fmt.Errorf("officer %s was created, but its files were not all written: %w; deactivate it and add it again", o.ID, err)
					}
				}
				w := cmd.OutOrStdout()
				if asJSON {
					return printJSON(w, o)
				}
				if err := printOfficer(cmd, o); err != nil {
					return err
				}
				if outDir != "" {
					_, err = fmt.Fprintf(w, "written: %s (key, 0600), %s, %s\n", filepath.Join(outDir, name+".key"), filepath.Join(outDir, name+".crt"), filepath.Join(outDir, name+".yaml"))
					return err
				}
				_, err = fmt.Fprint(w, o.Certificate)
				return err
			})
		}),
	}
	cmd.Flags().StringVar(&name, "name", "", "the officer's login name (e.g. registrar3)")
	cmd.Flags().StringSliceVar(&roles, "roles", nil, "comma-separated roles: registrar, approver, auditor, admin")
	cmd.Flags().StringVar(&csrPath, "csr", "", "the officer's CSR")
	cmd.Flags().StringVar(&outDir, "out-dir", "", "make the key here and write key, certificate and config into this directory")
	addOfficerFlags(cmd, false)
	return cmd
}

// writeOfficerFiles writes a new officer's key, certificate and config; the
// config points at the same server and CA bundle as the admin's.
func writeOfficerFiles(dir, name string, keyPEM []byte, certPEM string, admin raclient.Config) error {
	keyPath, certPath := filepath.Join(dir, name+".key"), filepath.Join(dir, name+".crt")
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(certPath, []byte(certPEM), 0o644); err != nil {
		return err
	}
	ca, err := filepath.Abs(admin.CABundle)
	if err != nil {
		return err
	}
	y, err := yaml.Marshal(map[string]string{"server": admin.Server, "ca_bundle": ca, "cert": name + ".crt", "key": name + ".key"})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".yaml"), y, 0o600)
}

func printOfficer(cmd *cobra.Command, o raclient.Officer) error {
	return fields(cmd.OutOrStdout(), "id", o.ID, "name", o.Name, "roles", strings.Join(o.Roles, ","), "active", yesNo(o.Active),
		"fingerprint", o.Fingerprint, "created at", when(o.CreatedAt))
}

func newOfficerListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the officers",
		Args:  officerArgs(),
		RunE: officerRun(func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				list, err := c.ListOfficers(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), map[string]any{"officers": nonNil(list)})
				}
				var t table
				t.add("ID", "NAME", "ROLES", "ACTIVE", "CREATED")
				for _, o := range list {
					t.add(o.ID, o.Name, strings.Join(o.Roles, ","), yesNo(o.Active), dash(when(o.CreatedAt)))
				}
				return t.write(cmd.OutOrStdout())
			})
		}),
	}
	addOfficerFlags(cmd, false)
	return cmd
}

func newOfficerDeactivateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deactivate ID",
		Short: "Deactivate an officer: refused by the API at once, whatever certificate they hold",
		Args:  officerArgs("ID"),
		RunE: officerRun(func(cmd *cobra.Command, args []string) error {
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				o, err := c.DeactivateOfficer(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), o)
				}
				return printOfficer(cmd, o)
			})
		}),
	}
	addOfficerFlags(cmd, false)
	return cmd
}
