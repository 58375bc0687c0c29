package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"github.com/muhr-pki/muhr/internal/keyref"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/muhr-pki/muhr/cades"
	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/secret"
)

// defaultModule is SoftHSM2's library, the development token.
const defaultModule = "/usr/lib/softhsm/libsofthsm2.so"

func newSignCmd() *cobra.Command {
	var in, out, keyRef, certPath, tsaURL, module, pinFile string
	var attached bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "sign --in FILE --out FILE.p7s --key pkcs11:token=T;object=K --cert CERT.pem [--tsa URL] [--attached]",
		Short: "Sign a document: CAdES-B, or CAdES-T with --tsa, with a key on a token (or a PEM key file for development)",
		Long: "Makes a CMS SignedData with signed attributes contentType, messageDigest, signingTime and\n" +
			"signingCertificateV2 (CAdES-B, ETSI EN 319 122-1); with --tsa, a signature timestamp from that\n" +
			"RFC 3161 TSA as well (CAdES-T). The key is named by a PKCS#11 URI, pkcs11:token=LABEL;object=KEY\n" +
			"(optionally ?module-path=LIB), and the PIN comes from --pin-file or a prompt, never a flag value.\n" +
			"--key FILE.pem takes a software key for development: it is refused for a certificate that claims\n" +
			"its key is on a qualified device (QcSSCD), because the signature would then claim so falsely.\n" +
			"--cert holds the signer's certificate first, then its intermediates (a root is left out).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			doc, err := os.ReadFile(in)
			if err != nil {
				return errkind.Wrap(errkind.Invalid, fmt.Errorf("--in: %w", err))
			}
			certs, err := readCerts(certPath, "--cert")
			if err != nil {
				return err
			}
			leaf, chain := certs[0], []*x509.Certificate(nil)
			for _, c := range certs[1:] {
				if !isSelfSigned(c) {
					chain = append(chain, c)
				}
			}
			key, where, closeKey, err := openSigningKey(ctx, cmd, keyRef, module, pinFile, leaf)
			if err != nil {
				return err
			}
			defer closeKey()
			p7, err := cades.Sign(ctx, doc, leaf, key, cades.Options{Attached: attached, Chain: chain, TSA: tsaURL, Timeout: timeout})
			if err != nil {
				if errors.Is(err, cades.ErrInput) {
					return errkind.Wrap(errkind.Invalid, err)
				}
				return errkind.Wrap(errkind.Unavailable, err)
			}
			if err := os.WriteFile(out, p7, 0o644); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			level := "CAdES-B"
			if tsaURL != "" {
				level = "CAdES-T"
			}
			form := "detached"
			if attached {
				form = "attached"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed %s → %s (%s, %s, %d octets) as %s, %s\n", in, out, level, form, len(p7), leaf.Subject, where)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&in, "in", "", "document to sign")
	fl.StringVar(&out, "out", "", "signature file to write (.p7s, DER)")
	fl.StringVar(&keyRef, "key", "", "pkcs11:token=LABEL;object=KEY, or a PEM private key file (development only)")
	fl.StringVar(&certPath, "cert", "", "the signer's certificate (PEM or DER), then its intermediates")
	fl.StringVar(&tsaURL, "tsa", "", "URL of an RFC 3161 TSA for a signature timestamp (CAdES-T), e.g. http://127.0.0.1:8080/tsa")
	fl.BoolVar(&attached, "attached", false, "put the document inside the signature (default: detached)")
	fl.StringVar(&module, "module", "", "PKCS#11 library (default: the URI's module-path, else "+defaultModule+")")
	fl.StringVar(&pinFile, "pin-file", "", "file holding the token's user PIN (mode 0600); prompted for on a terminal if absent")
	fl.DurationVar(&timeout, "timeout", 10*time.Second, "timeout of the TSA request")
	for _, f := range []string{"in", "out", "key", "cert"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}

func isSelfSigned(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

var oidQcSSCD = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 4}

// claimsQSCD says whether the certificate's QCStatements carry QcSSCD.
func claimsQSCD(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 3}) {
			var sts []struct {
				ID   asn1.ObjectIdentifier
				Info asn1.RawValue `asn1:"optional"`
			}
			if _, err := asn1.Unmarshal(e.Value, &sts); err != nil {
				return true // unreadable: assume the claim, refuse the file key
			}
			for _, s := range sts {
				if s.ID.Equal(oidQcSSCD) {
					return true
				}
			}
		}
	}
	return false
}

// openSigningKey opens the key --key names, and says where it is.
func openSigningKey(ctx context.Context, cmd *cobra.Command, ref, module, pinFile string, cert *x509.Certificate) (crypto.Signer, string, func(), error) {
	if !keyref.IsPKCS11URI(ref) {
		if claimsQSCD(cert) {
			return nil, "", nil, errkind.Wrap(errkind.Invalid, errors.New("--key: a key file cannot sign for a certificate that claims its key is on a qualified device (QcSSCD); use the token: --key pkcs11:token=...;object=..."))
		}
		b, err := secret.ReadFile(ref)
		if err != nil {
			return nil, "", nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("--key: %w", err))
		}
		defer clear(b)
		k, err := keyref.ParseKeyPEM(b)
		if err != nil {
			return nil, "", nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("--key %s: %w", ref, err))
		}
		return k, "key file " + ref + " (development: not a qualified device)", func() {}, nil
	}
	u, err := keyref.ParsePKCS11URI(ref)
	if err != nil {
		return nil, "", nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("--key: %w", err))
	}
	module = cmpOr(module, cmpOr(u.Module, defaultModule))
	pin, err := readPIN(cmd, cmpOr(pinFile, u.PINSource), "--pin-file", "user PIN of token "+u.Token, false)
	if err != nil {
		return nil, "", nil, errkind.Wrap(errkind.Invalid, err)
	}
	defer clear(pin)
	tok, err := pkcs11.Open(ctx, pkcs11.Config{Module: module, TokenLabel: u.Token, PIN: pin, Sessions: 1})
	if err != nil {
		return nil, "", nil, err
	}
	if u.Serial != "" {
		info, err := tok.Info(ctx)
		if err != nil {
			tok.Close()
			return nil, "", nil, err
		}
		if info.Serial != u.Serial {
			tok.Close()
			return nil, "", nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("--key: token %q has serial %s, not the serial=%s the URI names", u.Token, info.Serial, u.Serial))
		}
	}
	k, err := tok.Signer(ctx, u.Object)
	if err != nil {
		tok.Close()
		return nil, "", nil, err
	}
	return k, fmt.Sprintf("key %q on token %q", u.Object, u.Token), func() { tok.Close() }, nil
}
