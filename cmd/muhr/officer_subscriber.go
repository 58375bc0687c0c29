package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/muhr-pki/muhr/internal/secret"
	"github.com/muhr-pki/muhr/raclient"
)

func newSubscriberCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "subscriber", Short: "Register and find subscribers (registration officers, through the officer API)"}
	reg := &cobra.Command{Use: "register", Short: "Register a natural person or an organization"}
	reg.AddCommand(newRegisterPersonCmd(), newRegisterOrgCmd())
	cmd.AddCommand(reg, newSubscriberShowCmd(), newSubscriberSearchCmd())
	return cmd
}

// registration holds the flags common to both kinds of subscriber.
type registration struct {
	evType, evNumber, evFile, passFile, agreement, pds string
	keepFile                                           bool
}

func (r *registration) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&r.evType, "evidence-type", "", "identity document seen at the counter: passport, id-card, ...")
	f.StringVar(&r.evNumber, "evidence-number", "", "the document's number")
	f.StringVar(&r.evFile, "evidence-file", "", "a scan of the document: its SHA-256 is recorded")
	f.BoolVar(&r.keepFile, "upload-evidence", false, "also send the scan itself (kept if the server has an evidence directory; at most 700 KiB)")
	f.StringVar(&r.passFile, "passphrase-file", "", "file (mode 0600) holding the subscriber's revocation passphrase, stored only as a hash")
	f.StringVar(&r.agreement, "agreement-version", "1.0", "version of the subscriber agreement the subscriber accepted")
	f.StringVar(&r.pds, "pds-version", "1.0", "version of the PKI disclosure statement the subscriber accepted")
	addOfficerFlags(cmd, false)
}

// fill completes the input with evidence, passphrase and acceptances.
func (r *registration) fill(in *raclient.SubscriberInput) error {
	if (r.evType == "") != (r.evNumber == "") {
		return usagef("give --evidence-type and --evidence-number together")
	}
	if r.evFile != "" && r.evType == "" {
		return usagef("--evidence-file needs --evidence-type and --evidence-number")
	}
	if r.evType != "" {
		in.Evidence = &raclient.Evidence{Type: r.evType, Number: r.evNumber}
	}
	if r.evFile != "" {
		b, err := os.ReadFile(r.evFile)
		if err != nil {
			return usagef("--evidence-file: %v", err)
		}
		sum := sha256.Sum256(b)
		in.Evidence.FileSHA256 = hex.EncodeToString(sum[:])
		in.Evidence.FileName = filepath.Base(r.evFile)
		if r.keepFile {
			if len(b) > 700<<10 {
				return usagef("--evidence-file %s is %d KiB; --upload-evidence takes at most 700 KiB (scan at a lower resolution, or record only its hash)", r.evFile, len(b)>>10)
			}
			in.Evidence.FileBase64 = base64.StdEncoding.EncodeToString(b)
		}
	}
	if r.passFile != "" {
		p, err := secret.ReadFile(r.passFile)
		if err != nil {
			return usagef("--passphrase-file: %v", err)
		}
		in.Passphrase = string(p)
		clear(p)
	}
	at := time.Now().UTC().Format(time.RFC3339)
	in.Agreement = &raclient.Acceptance{Version: r.agreement, AcceptedAt: at}
	in.PDS = &raclient.Acceptance{Version: r.pds, AcceptedAt: at}
	return nil
}

func newRegisterPersonCmd() *cobra.Command {
	var p raclient.Person
	var r registration
	cmd := &cobra.Command{
		Use:   "person --surname S --given-name G [--patronymic P] --personal-number N --country TJ",
		Short: "Register a natural person (names exactly as in the identity document)",
		Args:  officerArgs(),
		RunE: officerRun(func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "surname", "given-name", "personal-number", "country"); err != nil {
				return err
			}
			p.Country = strings.ToUpper(p.Country)
			in := raclient.SubscriberInput{Kind: "person", Person: &p}
			if err := r.fill(&in); err != nil {
				return err
			}
			return createSubscriber(cmd, in)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&p.Surname, "surname", "", "surname")
	f.StringVar(&p.GivenName, "given-name", "", "given name")
	f.StringVar(&p.Patronymic, "patronymic", "", "patronymic (if the document shows one)")
	f.StringVar(&p.PersonalNumber, "personal-number", "", "personal identification number")
	f.StringVar(&p.Country, "country", "", "country of the document (ISO 3166 alpha-2, e.g. TJ)")
	f.StringVar(&p.Email, "email", "", "e-mail address (optional)")
	f.StringVar(&p.Phone, "phone", "", "phone number (optional)")
	r.flags(cmd)
	return cmd
}

func newRegisterOrgCmd() *cobra.Command {
	var o raclient.Organization
	var r registration
	cmd := &cobra.Command{
		Use:   "organization --name N --registration-number R --tax-number T --country TJ --representative SUBSCRIBER_ID",
		Short: "Register an organization, represented by a registered person",
		Args:  officerArgs(),
		RunE: officerRun(func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "name", "registration-number", "tax-number", "country", "representative"); err != nil {
				return err
			}
			o.Country = strings.ToUpper(o.Country)
			in := raclient.SubscriberInput{Kind: "organization", Organization: &o}
			if err := r.fill(&in); err != nil {
				return err
			}
			return createSubscriber(cmd, in)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.Name, "name", "", "the organization's registered name")
	f.StringVar(&o.RegistrationNumber, "registration-number", "", "state registration number")
	f.StringVar(&o.TaxNumber, "tax-number", "", "tax identification number")
	f.StringVar(&o.Country, "country", "", "country of registration (ISO 3166 alpha-2)")
	f.StringVar(&o.RepresentativeID, "representative", "", "subscriber ID of the person representing it")
	r.flags(cmd)
	return cmd
}

func createSubscriber(cmd *cobra.Command, in raclient.SubscriberInput) error {
	return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
		s, err := c.CreateSubscriber(cmd.Context(), in)
		if err != nil {
			return err
		}
		return printSubscriber(cmd, s, asJSON)
	})
}

func newSubscriberShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a subscriber",
		Args:  officerArgs("ID"),
		RunE: officerRun(func(cmd *cobra.Command, args []string) error {
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				s, err := c.Subscriber(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return printSubscriber(cmd, s, asJSON)
			})
		}),
	}
	addOfficerFlags(cmd, false)
	return cmd
}

func newSubscriberSearchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "search TEXT",
		Short: "Find subscribers by name or number (substring, at most 100)",
		Args:  officerArgs("TEXT"),
		RunE: officerRun(func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(args[0]) == "" {
				return usagef("search text is empty")
			}
			return withClient(cmd, func(c *raclient.Client, asJSON bool) error {
				ss, err := c.SearchSubscribers(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), map[string]any{"subscribers": nonNil(ss)})
				}
				if len(ss) == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "no subscriber matches %q\n", args[0])
					return nil
				}
				var t table
				t.add("ID", "KIND", "NAME", "NUMBER", "COUNTRY", "REGISTERED BY")
				for _, s := range ss {
					name, number, country := subscriberSummary(s)
					t.add(s.ID, s.Kind, name, number, country, dash(s.CreatedBy))
				}
				return t.write(cmd.OutOrStdout())
			})
		}),
	}
	addOfficerFlags(cmd, false)
	return cmd
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func subscriberSummary(s raclient.Subscriber) (name, number, country string) {
	switch {
	case s.Person != nil:
		name = strings.Join(strings.Fields(s.Person.Surname+" "+s.Person.GivenName+" "+s.Person.Patronymic), " ")
		return name, s.Person.PersonalNumber, s.Person.Country
	case s.Organization != nil:
		return s.Organization.Name, s.Organization.RegistrationNumber, s.Organization.Country
	}
	return "-", "-", "-"
}

func printSubscriber(cmd *cobra.Command, s raclient.Subscriber, asJSON bool) error {
	w := cmd.OutOrStdout()
	if asJSON {
		return printJSON(w, s)
	}
	kv := []string{"id", s.ID, "kind", s.Kind}
	if p := s.Person; p != nil {
		kv = append(kv, "surname", p.Surname, "given name", p.GivenName, "patronymic", p.Patronymic,
			"personal number", p.PersonalNumber, "country", p.Country, "e-mail", p.Email, "phone", p.Phone)
	}
	if o := s.Organization; o != nil {
		kv = append(kv, "name", o.Name, "registration no.", o.RegistrationNumber, "tax no.", o.TaxNumber,
			"country", o.Country, "representative", o.RepresentativeID)
	}
	for _, e := range s.Evidence {
		ev := e.Type + " " + e.Number
		if e.FileSHA256 != "" {
			ev += " (scan sha256 " + e.FileSHA256 + ")"
		}
		kv = append(kv, "evidence", ev)
	}
	pass := "no"
	if s.HasPassphrase {
		pass = "yes"
	}
	kv = append(kv, "revocation passphrase", pass)
	if s.Agreement != nil {
		kv = append(kv, "agreement", s.Agreement.Version+" accepted "+when(s.Agreement.AcceptedAt))
	}
	if s.PDS != nil {
		kv = append(kv, "PDS", s.PDS.Version+" accepted "+when(s.PDS.AcceptedAt))
	}
	kv = append(kv, "registered by", s.CreatedBy, "registered at", when(s.CreatedAt))
	return fields(w, kv...)
}
