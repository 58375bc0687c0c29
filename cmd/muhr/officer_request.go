package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/muhr-pki/muhr/ca/csr"
	"github.com/muhr-pki/muhr/raclient"
)

// requestProfiles are the profiles an officer may request for a subscriber.
func requestProfiles() []string { return []string{"qes-person", "qseal-org", "tls-server"} }

func newRequestCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "request", Short: "Submit, approve and reject certificate requests (through the officer API)"}
	cmd.AddCommand(newRequestSubmitCmd(), newRequestApproveCmd(), newRequestRejectCmd(), newRequestShowCmd(),
		newRequestListCmd(), newRequestRenewCmd())
	return cmd
}

// readCSR reads and checks a CSR file before it goes to the server, so the
// officer learns at once what the applicant must redo. It returns PEM.
func readCSR(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usagef("--csr: %v; give the path of the applicant's CSR file (openssl req -new ... -out FILE)", err)
	}
	if _, err := csr.Intake(b, csr.Options{}); err != nil {
		hint := "ask the applicant to create a new CSR"
		switch {
		case errors.Is(err, csr.ErrWeakSignatureAlgorithm):
			if req, perr := x509.ParseCertificateRequest(derOf(b)); perr == nil && strings.Contains(req.SignatureAlgorithm.String(), "SHA1") {
				return "", usagef("--csr %s: the CSR is signed with SHA-1 (%v); ask the applicant to regenerate it with SHA-256 (openssl req -new -sha256 ...)", path, req.SignatureAlgorithm)
			}
			hint = "ask the applicant to regenerate it with SHA-256"
		case errors.Is(err, csr.ErrMalformed):
			hint = "it is not a PKCS#10 CSR (PEM \"CERTIFICATE REQUEST\" or DER); ask the applicant for the CSR file itself"
		case errors.Is(err, csr.ErrWeakKey), errors.Is(err, csr.ErrKeyType), errors.Is(err, csr.ErrInvalidKey):
			hint = "ask the applicant to generate a new key (ECDSA P-256/P-384 or RSA 2048-4096) and a new CSR"
		}
		return "", usagef("--csr %s: %v\n  fix: %s", path, err, hint)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: derOf(b)})), nil
}

// derOf returns the DER of a PEM or DER CSR.
func derOf(b []byte) []byte {
	if blk, _ := pem.Decode(b); blk != nil {
		return blk.Bytes
	}
	return b
}

func checkProfile(p string) error {
	if !slices.Contains(requestProfiles(), p) {
		return usagef("--profile %q: use one of %s", p, strings.Join(requestProfiles(), ", "))
	}
	return nil
}

func newRequestSubmitCmd() *cobra.Command {
	var sub, profile, csrPath string
	var dns []string
	cmd := &cobra.Command{
		Use:   "submit --subscriber ID --profile qes-person|qseal-org|tls-server --csr FILE",
		Short: "Submit a certificate request for a registered subscriber (pending until an approver decides)",
		Long: "The CSR is checked here and again by the server; a bad CSR is refused with what to fix.\n" +
			"The certificate's subject comes from the registered identity, not from the CSR. A CSR\n" +
			"brought on a file gets QCP-n/QCP-l; for QCP-n-qscd enrol the subscriber's card with\n" +
			"`muhr token enroll`.",
		Args: officerArgs(),
		RunE: officerRun(func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "subscriber", "profile", "csr"); err != nil {
				return err
			}
			if err := checkProfile(profile); err != nil {
				return err
			}
			if len(dns) > 0 && profile != "tls-server" {
				return usagef("--dns is for --profile tls-server only")
			}
			p, err := readCSR(csrPath)
			if err != nil {
				return err
			}
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				r, err := c.SubmitRequest(cmd.Context(), raclient.RequestInput{SubscriberID: sub, Profile: profile, CSR: p, Kind: "new", DNSNames: dns})
				if err != nil {
					return err
				}
				return printRequest(cmd, r, asJSON)
			})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&sub, "subscriber", "", "subscriber ID (from `muhr subscriber register` or `search`)")
	f.StringVar(&profile, "profile", "", "qes-person, qseal-org or tls-server")
	f.StringVar(&csrPath, "csr", "", "the applicant's CSR (PEM or DER)")
	f.StringSliceVar(&dns, "dns", nil, "DNS names (tls-server only; repeat or comma-separate)")
	addOfficerFlags(cmd, false)
	return cmd
}

func newRequestApproveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approve ID",
		Short: "Approve a pending request (an approver other than its submitter); the certificate is issued at once",
		Args:  officerArgs("ID"),
		RunE: officerRun(func(cmd *cobra.Command, args []string) error {
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				progress(cmd, "approving %s; the center is issuing the certificate...", args[0])
				r, err := c.Approve(cmd.Context(), args[0])
				if err != nil {
					if errors.As(err, new(*raclient.Unreachable)) {
						return fmt.Errorf("%w\n  note: the approval may have reached the server: `muhr request show %s` tells; approving again issues nothing twice", err, args[0])
					}
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), r)
				}
				if r.Serial != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "issued serial %s\n", r.Serial)
				}
				return printRequest(cmd, r, false)
			})
		}),
	}
	addOfficerFlags(cmd, false)
	return cmd
}

func newRequestRejectCmd() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "reject ID --reason TEXT",
		Short: "Reject a pending request, saying why",
		Args:  officerArgs("ID"),
		RunE: officerRun(func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return usagef("--reason is required: say why, for the subscriber and the audit log")
			}
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				r, err := c.Reject(cmd.Context(), args[0], reason)
				if err != nil {
					return err
				}
				return printRequest(cmd, r, asJSON)
			})
		}),
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the request is rejected")
	addOfficerFlags(cmd, false)
	return cmd
}

func newRequestShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a request and its decision",
		Args:  officerArgs("ID"),
		RunE: officerRun(func(cmd *cobra.Command, args []string) error {
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				r, err := c.Request(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return printRequest(cmd, r, asJSON)
			})
		}),
	}
	addOfficerFlags(cmd, false)
	return cmd
}

func newRequestListCmd() *cobra.Command {
	var status, sub string
	cmd := &cobra.Command{
		Use:   "list [--status pending|rejected|issued|failed] [--subscriber ID]",
		Short: "List requests",
		Args:  officerArgs(),
		RunE: officerRun(func(cmd *cobra.Command, _ []string) error {
			if status != "" && !slices.Contains([]string{"pending", "rejected", "issued", "failed"}, status) {
				return usagef("--status %q: use pending, rejected, issued or failed", status)
			}
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				rs, err := c.ListRequests(cmd.Context(), status, sub)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), map[string]any{"requests": nonNil(rs)})
				}
				if len(rs) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "no requests")
					return nil
				}
				var t table
				t.add("ID", "STATUS", "PROFILE", "KIND", "QSCD", "SUBSCRIBER", "SUBMITTED BY", "DECIDED BY", "SERIAL", "CREATED")
				for _, r := range rs {
					t.add(r.ID, r.Status, r.Profile, dash(r.Kind), yesNo(r.QSCD), r.SubscriberID, dash(r.SubmittedBy), dash(r.DecidedBy), dash(r.Serial), dash(when(r.CreatedAt)))
				}
				return t.write(cmd.OutOrStdout())
			})
		}),
	}
	cmd.Flags().StringVar(&status, "status", "", "only requests in this state")
	cmd.Flags().StringVar(&sub, "subscriber", "", "only this subscriber's requests")
	addOfficerFlags(cmd, false)
	return cmd
}

func newRequestRenewCmd() *cobra.Command {
	var csrPath string
	var rekey bool
	cmd := &cobra.Command{
		Use:   "renew SERIAL --csr FILE",
		Short: "Request a new certificate for the same subscriber and profile, with a new key (goes through approval)",
		Args:  officerArgs("SERIAL"),
		RunE: officerRun(func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "csr"); err != nil {
				return err
			}
			serial, err := raclient.NormalSerial(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			p, err := readCSR(csrPath)
			if err != nil {
				return err
			}
			kind := "renew"
			if rekey {
				kind = "rekey"
			}
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				old, err := c.Certificate(cmd.Context(), serial)
				if err != nil {
					return err
				}
				r, err := c.SubmitRequest(cmd.Context(), raclient.RequestInput{SubscriberID: old.SubscriberID, Profile: old.Profile, CSR: p, Kind: kind, RenewsSerial: serial})
				if err != nil {
					return err
				}
				return printRequest(cmd, r, asJSON)
			})
		}),
	}
	cmd.Flags().StringVar(&csrPath, "csr", "", "the subscriber's CSR for the new key")
	cmd.Flags().BoolVar(&rekey, "rekey", false, "mark it a re-key (the old key is replaced, e.g. after loss) rather than a renewal")
	addOfficerFlags(cmd, false)
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func printRequest(cmd *cobra.Command, r raclient.Request, asJSON bool) error {
	w := cmd.OutOrStdout()
	if asJSON {
		return printJSON(w, r)
	}
	return fields(w, "id", r.ID, "status", r.Status, "subscriber", r.SubscriberID, "profile", r.Profile, "kind", r.Kind,
		"qscd", yesNo(r.QSCD), "submitted by", r.SubmittedBy, "decided by", r.DecidedBy, "reason", r.Reason,
		"serial", r.Serial, "created at", when(r.CreatedAt), "decided at", when(r.DecidedAt))
}
