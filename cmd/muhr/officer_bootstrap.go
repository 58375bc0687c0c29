package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/internal/center"
	"github.com/muhr-pki/muhr/internal/center/issuing"
	"github.com/muhr-pki/muhr/ra"
	"github.com/muhr-pki/muhr/store"
)

// addOfficerBootstrap puts `bootstrap` under the `officer` command (the
// officer commands that talk to the API are another file's), making the
// group when there is none yet.
func addOfficerBootstrap(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() == "officer" {
			c.AddCommand(newOfficerBootstrapCmd())
			return
		}
	}
	grp := &cobra.Command{Use: "officer", Short: "Registration officers"}
	grp.AddCommand(newOfficerBootstrapCmd())
	root.AddCommand(grp)
}

// OfficerConfig is the officer config file the CLI reads (API.md,
// "Officer config file").
type OfficerConfig struct {
	Server   string `yaml:"server"`
	CABundle string `yaml:"ca_bundle"`
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
}

func newOfficerBootstrapCmd() *cobra.Command {
	var cfgPath, name, outDir, server, surname, given, patronymic, number string
	var roles []string
	cmd := &cobra.Command{
		Use:   "bootstrap --config muhrd.yaml --name NAME --roles R[,R...] --out-dir DIR",
		Short: "Create an officer locally (security officers): key, certificate from the management CA, officer row, CLI config",
		Long: "For the first officers, run by a security officer on the center itself (like\n" +
			"`muhr ceremony run`): it uses muhrd.yaml, the database and the HSM directly. It generates\n" +
			"the officer's ECDSA P-256 key into DIR/NAME.key (0600), has the management CA issue the\n" +
			"officer certificate (profile officer) into DIR/NAME.crt, records the officer with ROLES\n" +
			"(registrar, approver, auditor, admin) in the audit log, writes the management CA to\n" +
			"DIR/ca.pem and a ready CLI config to DIR/NAME.yaml:\n" +
			"  server: https://127.0.0.1:8443\n  ca_bundle: DIR/ca.pem\n  cert: DIR/NAME.crt\n  key: DIR/NAME.key\n" +
			"Later officers are added by an admin through the API (muhr officer add).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			if outDir == "" {
				return errkind.Wrap(errkind.Invalid, errors.New("--out-dir: required (where the key, certificate and config go)"))
			}
			if server == "" {
				addr, err := cfg.AdminAddr(os.Getenv("MUHR_ADMIN_LISTEN"))
				if err != nil {
					return errkind.Wrap(errkind.Invalid, err)
				}
				host, port, _ := net.SplitHostPort(addr)
				if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
					host = "127.0.0.1"
				}
				server = "https://" + net.JoinHostPort(host, port)
			}
			in := ra.OfficerInput{Name: name, Roles: splitRoles(roles)}
			if surname != "" || given != "" || number != "" {
				in.Person = &ra.PersonInput{Surname: surname, GivenName: given, Patronymic: patronymic, PersonalNumber: number, Country: "TJ"}
			}
			if err := os.MkdirAll(outDir, 0o700); err != nil {
				return err
			}
			dir, err := filepath.Abs(outDir)
			if err != nil {
				return err
			}
			keyPath := filepath.Join(dir, name+".key")
			certPath := filepath.Join(dir, name+".crt")
			confPath := filepath.Join(dir, name+".yaml")
			caPath := filepath.Join(dir, "ca.pem")
			for _, p := range []string{keyPath, certPath, confPath} {
				if _, err := os.Stat(p); err == nil {
					return errkind.Wrap(errkind.Conflict, fmt.Errorf("%s exists; an officer's key is never overwritten (remove it or pick another --name)", p))
				}
			}
			settings, err := issuing.Settings(cfg)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			parts, err := center.Open(ctx, cfg, log, center.ConfigPath(cfgPath))
			if err != nil {
				return err
			}
			defer parts.Close()
			cas, err := parts.Store.ListCAs(ctx)
			if err != nil {
				return err
			}
			var mgmt *store.CA
			for i, c := range cas {
				if c.Kind == store.CAKindManagement && c.Status == store.CAStatusActive {
					mgmt = &cas[i]
					break
				}
			}
			if mgmt == nil {
				return errkind.Wrap(errkind.NotFound, errors.New("no active management CA; run the key ceremony first"))
			}
			iss, err := ca.NewIssuer(ctx, ca.IssuerOptions{CAID: mgmt.ID, Store: parts.Store, Keys: parts.Keys, Settings: settings, Log: log,
				SignTimeout: cfg.HSM.SignTimeout})
			if err != nil {
				return err
			}
			defer iss.Close()
			svc, err := ra.New(ra.Options{Store: parts.Store, Issuers: map[string]ra.Issuer{mgmt.ID: iss}, Rules: settings.Rules, Log: log})
			if err != nil {
				return err
			}
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return err
			}
			keyDER, err := x509.MarshalPKCS8PrivateKey(key)
			if err != nil {
				return err
			}
			csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
			if err != nil {
				return err
			}
			in.CSR = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))
			// The key file first (O_EXCL): a second bootstrap of the name
			// racing this one fails here, not after a certificate.
			kf, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			if err := pem.Encode(kf, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}); err != nil {
				kf.Close()
				return err
			}
			if err := kf.Close(); err != nil {
				return err
			}
			actor := "bootstrap"
			if u := os.Getenv("USER"); u != "" {
				actor += ":" + u
			}
			o, err := svc.CreateOfficer(ctx, actor, actor, in)
			if err != nil {
				os.Remove(keyPath)
				return err
			}
			if err := os.WriteFile(certPath, []byte(o.Certificate), 0o644); err != nil {
				return err
			}
			caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: mgmt.CertDER})
			if err := os.WriteFile(caPath, caPEM, 0o644); err != nil {
				return err
			}
			body, err := yaml.Marshal(OfficerConfig{Server: server, CABundle: caPath, Cert: certPath, Key: keyPath})
			if err != nil {
				return err
			}
			conf := fmt.Sprintf("# muhr officer config of %s (%s), written by muhr officer bootstrap.\n"+
				"# Use it with: muhr --config %s ... (or MUHR_CONFIG=%s)\n%s", o.Name, strings.Join(o.Roles, ","), confPath, confPath, body)
			if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "officer %s (%s) roles %s\n  certificate sha256 %s\n  config %s\n",
				o.Name, o.ID, strings.Join(o.Roles, ","), o.Fingerprint, confPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", defaultConfig(), "muhrd.yaml of the center")
	f.StringVar(&name, "name", "", "the officer's login name (lowercase: registrar1)")
	f.StringSliceVar(&roles, "roles", nil, "registrar, approver, auditor, admin (comma-separated or repeated)")
	f.StringVar(&outDir, "out-dir", "", "directory for NAME.key, NAME.crt, NAME.yaml and ca.pem")
	f.StringVar(&server, "server", "", "officer API URL written into the config (default: https:// + admin_listen)")
	f.StringVar(&surname, "surname", "", "the officer's surname, for the certificate (default: the login name)")
	f.StringVar(&given, "given-name", "", "the officer's given name")
	f.StringVar(&patronymic, "patronymic", "", "the officer's patronymic")
	f.StringVar(&number, "personal-number", "", "the officer's personal number")
	for _, r := range []string{"name", "roles"} {
		_ = cmd.MarkFlagRequired(r)
	}
	return cmd
}

func splitRoles(in []string) []string {
	var out []string
	for _, r := range in {
		for _, p := range strings.Split(r, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
