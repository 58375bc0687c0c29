package main

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/raclient"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Enrol a subscriber's smart card at the counter (through the officer API)"}
	cmd.AddCommand(newTokenEnrollCmd())
	return cmd
}

func newTokenEnrollCmd() *cobra.Command {
	var sub, profile, module, label, pinFile, keyLabel, keyType, csrOut string
	cmd := &cobra.Command{
		Use:   "enroll --subscriber ID --profile P --module LIB --token LABEL",
		Short: "Generate the subscriber's key on their card, sign the CSR on the card and submit it as QSCD",
		Long: "The key pair is generated on the card (sensitive, never extractable, sign only); its\n" +
			"attributes are read back from the card, and the request carries them with the card's\n" +
			"serial, manufacturer and model as evidence, so an approved request gets a QCP-n-qscd\n" +
			"(QCP-l-qscd) certificate. The card's PIN comes from --pin-file or a prompt (the subscriber\n" +
			"types it). The request then waits for an approver like any other.",
		Args: officerArgs(),
		RunE: officerRun(func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "subscriber", "profile", "module", "token"); err != nil {
				return err
			}
			if profile != "qes-person" && profile != "qseal-org" {
				return usagef("--profile %q: a card enrolment is for qes-person or qseal-org", profile)
			}
			alg, err := hsm.ParseKeyAlgorithm(keyType)
			if err != nil {
				return usagef("--key-type: %v", err)
			}
			if keyLabel == "" {
				keyLabel = "muhr-" + sub + "-" + time.Now().UTC().Format("20060102T150405Z")
			}
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				ctx := cmd.Context()
				s, err := c.Subscriber(ctx, sub)
				if err != nil {
					return err
				}
				pin, err := readPIN(cmd, pinFile, "--pin-file", fmt.Sprintf("PIN of the subscriber's card %q", label), false)
				if err != nil {
					return usagef("%v", err)
				}
				progress(cmd, "opening card %q", label)
				card, err := pkcs11.Open(ctx, pkcs11.Config{Module: module, TokenLabel: label, PIN: pin, Sessions: 1})
				clear(pin)
				if err != nil {
					return fmt.Errorf("subscriber's card: %w", err)
				}
				defer card.Close()
				info, err := card.Info(ctx)
				if err != nil {
					return fmt.Errorf("subscriber's card: %w", err)
				}
				progress(cmd, "generating a %s key %q on card %s (serial %s)...", alg, keyLabel, info.Model, info.Serial)
				signer, err := card.Generate(ctx, keyLabel, alg)
				if err != nil {
					return fmt.Errorf("generating the key on the card: %w", err)
				}
				prot, err := card.KeyProtection(ctx, keyLabel)
				if err != nil {
					return fmt.Errorf("reading back the new key's attributes: %w", err)
				}
				if !prot.Sensitive || prot.Extractable || !prot.AlwaysSensitive || !prot.NeverExtractable || !prot.Local {
					return fmt.Errorf("card %q reports key %q as sensitive=%t extractable=%t always_sensitive=%t never_extractable=%t local=%t; it cannot be a qualified device key: use a card that generates keys on board",
						label, keyLabel, prot.Sensitive, prot.Extractable, prot.AlwaysSensitive, prot.NeverExtractable, prot.Local)
				}
				progress(cmd, "signing the CSR on the card")
				name, _, country := subscriberSummary(s)
				subj := pkix.Name{CommonName: name}
				if country != "" && country != "-" {
					subj.Country = []string{country}
				}
				der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subj}, signer)
				if err != nil {
					return fmt.Errorf("signing the CSR on the card: %w", err)
				}
				csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
				if csrOut != "" {
					if err := os.WriteFile(csrOut, csrPEM, 0o644); err != nil {
						return usagef("--csr-out: %v", err)
					}
				}
				ev := &raclient.QSCDEvidence{TokenSerial: info.Serial, TokenLabel: info.Label, Manufacturer: info.Manufacturer, Model: info.Model,
					KeyLabel: keyLabel, Sensitive: prot.Sensitive, Extractable: prot.Extractable, AlwaysSensitive: prot.AlwaysSensitive,
					NeverExtractable: prot.NeverExtractable, Local: prot.Local}
				progress(cmd, "submitting the request with the card's evidence")
				r, err := c.SubmitRequest(ctx, raclient.RequestInput{SubscriberID: sub, Profile: profile, CSR: string(csrPEM), Kind: "new", QSCD: ev})
				if err != nil {
					return fmt.Errorf("%w\n  note: key %q stays on the card; enrolling again makes a new key", err, keyLabel)
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), map[string]any{"id": r.ID, "status": r.Status, "request": r, "qscd": ev})
				}
				if err := printRequest(cmd, r, false); err != nil {
					return err
				}
				return fields(cmd.OutOrStdout(), "card", strings.TrimSpace(info.Manufacturer+" "+info.Model)+" serial "+info.Serial, "key", keyLabel+" (sensitive, never extractable, generated on the card)")
			})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&sub, "subscriber", "", "subscriber ID")
	f.StringVar(&profile, "profile", "", "qes-person or qseal-org")
	f.StringVar(&module, "module", "", "the card's PKCS#11 library")
	f.StringVar(&label, "token", "", "the card's token label")
	f.StringVar(&pinFile, "pin-file", "", "file (mode 0600) holding the card's user PIN; prompted for on a terminal if absent")
	f.StringVar(&keyLabel, "key-label", "", "label of the new key on the card (default muhr-SUBSCRIBER-TIME)")
	f.StringVar(&keyType, "key-type", string(hsm.ECDSAP256), "ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072 or rsa-4096")
	f.StringVar(&csrOut, "csr-out", "", "also write the CSR signed on the card to this file")
	addOfficerFlags(cmd, false)
	return cmd
}
