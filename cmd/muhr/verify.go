package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/muhr-pki/muhr/errkind"
	vfy "github.com/muhr-pki/muhr/verify"
)

// verifyFlags are what both verify commands share.
type verifyFlags struct {
	config  string
	trust   []string
	chain   []string
	output  string
	timeout time.Duration
}

func (f *verifyFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "muhrd.yaml whose database holds the center's roots, the default trust anchors (default $MUHR_HOME/muhrd.yaml when it exists)")
	fl.StringArrayVar(&f.trust, "trust", nil, "PEM or DER file of more trust anchors (repeatable); other CAs' certificates validate against them")
	fl.StringArrayVar(&f.chain, "chain", nil, "PEM or DER file of intermediate certificates (repeatable)")
	fl.StringVarP(&f.output, "output", "o", "text", "report format: text or json")
	fl.DurationVar(&f.timeout, "timeout", vfy.DefaultTimeout, "timeout of each OCSP, CRL or AIA fetch")
}

// validator gathers the trust anchors: the center's roots, then --trust.
func (f *verifyFlags) validator(cmd *cobra.Command) (*vfy.Validator, []*x509.Certificate, error) {
	if f.output != "text" && f.output != "json" {
		return nil, nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("-o %q: text or json", f.output))
	}
	var roots []*x509.Certificate
	cfg, explicit := f.config, f.config != ""
	if !explicit {
		cfg = defaultConfig()
	}
	if _, err := os.Stat(cfg); err == nil || explicit {
		st, err := openStoreFromConfig(cmd.Context(), cfg)
		if err != nil {
			return nil, nil, err
		}
		defer st.Close()
		if roots, err = vfy.CenterRoots(cmd.Context(), st); err != nil {
			return nil, nil, err
		}
	}
	for _, p := range f.trust {
		cs, err := readCerts(p, "--trust")
		if err != nil {
			return nil, nil, err
		}
		roots = append(roots, cs...)
	}
	if len(roots) == 0 {
		return nil, nil, errkind.Wrap(errkind.Invalid, errors.New("no trust anchor: give --trust ROOT.pem, or --config muhrd.yaml of a center"))
	}
	var chain []*x509.Certificate
	for _, p := range f.chain {
		cs, err := readCerts(p, "--chain")
		if err != nil {
			return nil, nil, err
		}
		chain = append(chain, cs...)
	}
	v, err := vfy.New(vfy.Options{Roots: roots, HTTP: &http.Client{}, Timeout: f.timeout})
	return v, chain, err
}

func readCerts(path, flag string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("%s: %w", flag, err))
	}
	cs, err := vfy.ParseCertificates(b)
	if err != nil {
		return nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("%s %s: %w", flag, path, err))
	}
	return cs, nil
}

func newVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Validate certificates and CAdES signatures (ETSI EN 319 102-1); exit 0 only for TOTAL-PASSED, 1 failed, 4 indeterminate",
	}
	cmd.AddCommand(newVerifyCertCmd(), newVerifySignatureCmd())
	return cmd
}

func newVerifyCertCmd() *cobra.Command {
	var f verifyFlags
	var at string
	cmd := &cobra.Command{
		Use:   "cert FILE [--at TIME] [--trust FILE]",
		Short: "Validate a certificate: chain, validity, key usage, policies, revocation (OCSP, then CRL), qualified status",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			certs, err := readCerts(args[0], "FILE")
			if err != nil {
				return err
			}
			when := time.Now()
			if at != "" {
				if when, err = time.Parse(time.RFC3339, at); err != nil {
					return errkind.Wrap(errkind.Invalid, fmt.Errorf("--at %q: an RFC 3339 time such as 2026-12-07T10:00:00Z", at))
				}
			}
			v, chain, err := f.validator(cmd)
			if err != nil {
				return err
			}
			// A file may hold the leaf and its intermediates.
			cr := v.Certificate(cmd.Context(), certs[0], append(certs[1:], chain...), when, false, vfy.UsageAny)
			rep := &vfy.Report{Status: cr.Status, ValidationTime: time.Now().UTC(), Certificate: cr}
			return emit(cmd.OutOrStdout(), rep, f.output, "certificate")
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&at, "at", "", "validation time (RFC 3339); default now. Revocation before it gives INDETERMINATE/REVOKED_NO_POE")
	return cmd
}

func newVerifySignatureCmd() *cobra.Command {
	var f verifyFlags
	var in, content, report, out, at string
	cmd := &cobra.Command{
		Use:   "signature --in FILE.p7s [--content FILE] [--at TIME] [--trust FILE] [-o json] [--report etsi --out F]",
		Short: "Validate a CMS/CAdES signature, each signer, with its timestamp as proof of existence",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if report != "" && report != "etsi" {
				return errkind.Wrap(errkind.Invalid, fmt.Errorf("--report %q: only etsi (ETSI TS 119 102-2 XML)", report))
			}
			if report != "" && out == "" {
				return errkind.Wrap(errkind.Invalid, errors.New("--report etsi needs --out FILE for the XML"))
			}
			when := time.Now()
			if at != "" {
				var err error
				if when, err = time.Parse(time.RFC3339, at); err != nil {
					return errkind.Wrap(errkind.Invalid, fmt.Errorf("--at %q: an RFC 3339 time such as 2026-12-07T10:00:00Z", at))
				}
			}
			p7, err := readLimited(in, "--in", vfy.MaxSignatureBytes)
			if err != nil {
				return err
			}
			p7 = unPEM(p7)
			var doc []byte
			if content != "" {
				if doc, err = os.ReadFile(content); err != nil {
					return errkind.Wrap(errkind.Invalid, fmt.Errorf("--content: %w", err))
				}
			}
			v, chain, err := f.validator(cmd)
			if err != nil {
				return err
			}
			rep := v.SignatureAt(cmd.Context(), p7, doc, chain, when)
			if report == "etsi" {
				x, err := vfy.ETSIReport(rep)
				if err != nil {
					return err
				}
				if err := os.WriteFile(out, x, 0o644); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
			}
			return emit(cmd.OutOrStdout(), rep, f.output, "signature")
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&in, "in", "", "the signature (.p7s, DER, BER or PEM)")
	fl.StringVar(&content, "content", "", "the signed document, for a detached signature")
	fl.StringVar(&report, "report", "", "also write a validation report: etsi (ETSI TS 119 102-2 XML) to --out")
	fl.StringVar(&out, "out", "", "file for --report")
	fl.StringVar(&at, "at", "", "validation time (RFC 3339); default now. The TSA's certificate is validated at it, the signer's at the timestamp")
	cmd.MarkFlagRequired("in")
	return cmd
}

// readLimited reads a file, refusing one over max octets.
func readLimited(path, flag string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("%s: %w", flag, err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if int64(len(b)) > max {
		return nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("%s: over %d octets; a signature is kilobytes (sign large documents detached)", flag, max))
	}
	return b, nil
}

// unPEM decodes a PEM PKCS7/CMS block; anything else is returned as is.
func unPEM(b []byte) []byte {
	if blk, _ := pem.Decode(b); blk != nil && (blk.Type == "PKCS7" || blk.Type == "CMS") {
		return blk.Bytes
	}
	return b
}

// emit writes the report and turns its verdict into the exit status: 0
// only for TOTAL-PASSED, 1 for TOTAL-FAILED, 4 for INDETERMINATE (the
// error kinds exitFor maps to 1 and 4).
func emit(w io.Writer, rep *vfy.Report, format, what string) error {
	var err error
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = vfy.WriteText(w, rep)
	}
	if err != nil {
		return err
	}
	verdict := strings.TrimSuffix(string(rep.Indication)+"/"+string(rep.SubIndication), "/")
	switch rep.Indication {
	case vfy.Passed:
		return nil
	case vfy.Failed:
		return fmt.Errorf("%s %s", what, verdict)
	}
	return errkind.Wrap(errkind.NotFound, fmt.Errorf("%s %s", what, verdict))
}
