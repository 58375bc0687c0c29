package ca_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/postgres"
	"github.com/muhr-pki/muhr/store/sqlite"
)

func demoPlan(t testing.TB) *ca.Plan {
	t.Helper()
	var p ca.Plan
	if err := config.LoadStrict("../configs/ceremony-demo.yaml", &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

func openToken(t *testing.T) *pkcs11.Token {
	t.Helper()
	tok := testpki.SoftHSM(t)
	k, err := pkcs11.Open(context.Background(), tok.Config(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func backends(t testing.TB) map[string]func(t testing.TB) store.Store {
	return map[string]func(t testing.TB) store.Store{
		"sqlite": func(t testing.TB) store.Store {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "muhr.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
		"postgres": func(t testing.TB) store.Store {
			st, err := postgres.Open(context.Background(), testpki.PostgresDSN(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
}

func writePEM(t testing.TB, dir, name string, ders ...[]byte) string {
	t.Helper()
	var b []byte
	for _, d := range ders {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCeremonyOnSoftHSM(t *testing.T) {
	opensslBin := testpki.Tool(t, "openssl")
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			keys := openToken(t)
			cer := &ca.Ceremony{Keys: keys, Store: st, PublicURL: "http://127.0.0.1:8080"}
			made, err := cer.Run(ctx, demoPlan(t))
			if err != nil {
				t.Fatal(err)
			}

			byRole := map[string][]ca.Made{}
			for _, m := range made {
				byRole[m.Role] = append(byRole[m.Role], m)
			}
			for role, n := range map[string]int{"root": 1, "issuing": 1, "services": 1, "management": 1, "ocsp": 2, "tsa": 1, "crl": 4} {
				if len(byRole[role]) != n {
					t.Fatalf("made %d %s, want %d", len(byRole[role]), role, n)
				}
			}
			dir := t.TempDir()
			root := writePEM(t, dir, "root.pem", byRole["root"][0].DER)
			issuing := writePEM(t, dir, "issuing.pem", byRole["issuing"][0].DER)
			mgmt := writePEM(t, dir, "mgmt.pem", byRole["management"][0].DER)
			services := writePEM(t, dir, "services.pem", byRole["services"][0].DER)
			ocspOf := map[string][]byte{}
			for _, m := range byRole["ocsp"] {
				ocspOf[m.ID] = m.DER
			}
			verify := func(caFile string, untrusted string, leaf string, extra ...string) {
				t.Helper()
				args := []string{"verify", "-CAfile", caFile}
				if untrusted != "" {
					args = append(args, "-untrusted", untrusted)
				}
				args = append(args, extra...)
				out, err := exec.Command(opensslBin, append(args, leaf)...).CombinedOutput()
				if err != nil || !strings.Contains(string(out), ": OK") {
					t.Fatalf("openssl %v: %v\n%s", args, err, out)
				}
			}
			verify(root, "", root)
			verify(root, "", issuing)
			verify(mgmt, "", mgmt)
			verify(root, issuing, writePEM(t, dir, "ocsp.pem", ocspOf["qca-demo"]))
			verify(root, "", services)
			verify(root, services, writePEM(t, dir, "svc-ocsp.pem", ocspOf["svc-demo"]), "-purpose", "ocsphelper")
			verify(root, issuing, writePEM(t, dir, "tsa.pem", byRole["tsa"][0].DER), "-purpose", "timestampsign")

			// Every certificate and CRL passes zlint as stored.
			linter := policy.NewLinter()
			kinds := map[string]policy.Kind{"root": policy.KindRootCA, "issuing": policy.KindIssuingCA, "services": policy.KindServicesCA,
				"management": policy.KindManagementCA, "ocsp": policy.KindOCSPSigner, "tsa": policy.KindTSAUnit}
			for _, m := range made {
				var res policy.Result
				if m.Role == "crl" {
					res, err = linter.LintCRL(m.DER)
				} else {
					res, err = linter.Lint(m.DER, kinds[m.Role])
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := res.Err(); err != nil {
					t.Errorf("%s %s: %v", m.Role, m.ID, err)
				}
				// No finding is excluded or accepted for the CAs any more.
				if m.Role == "issuing" || m.Role == "services" {
					for _, f := range res.Findings {
						t.Errorf("%s %s: %v", m.Role, m.ID, f)
					}
				}
			}
			// The services CA is limited to the configured suffix.
			svc, _ := x509.ParseCertificate(byRole["services"][0].DER)
			if !svc.PermittedDNSDomainsCritical || len(svc.PermittedDNSDomains) != 1 || svc.PermittedDNSDomains[0] != "demo.gov.tj" {
				t.Errorf("services CA name constraints %v (critical %v)", svc.PermittedDNSDomains, svc.PermittedDNSDomainsCritical)
			}

			// The keys are on the token, sensitive and never extractable.
			infos, err := keys.Keys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(infos) != 8 { // seven signing keys and the audit checkpoint key
				t.Fatalf("token holds %d keys, want 8", len(infos))
			}
			for _, k := range infos {
				if !k.Sensitive || k.Extractable || !k.AlwaysSensitive || !k.NeverExtractable {
					t.Errorf("key %s attributes %+v", k.Label, k)
				}
			}

			// What was stored: CAs, the root CRL, the signers, each issued
			// certificate under a reserved serial.
			// The services CA's row says issuing (the schema's kinds); its
			// certificate makes it issue as a services CA.
			for id, kind := range map[string][2]string{"root-demo": {store.CAKindRoot, policy.CAKindRoot},
				"qca-demo": {store.CAKindIssuing, policy.CAKindIssuing}, "svc-demo": {store.CAKindIssuing, policy.CAKindServices},
				"mgmt-demo": {store.CAKindManagement, policy.CAKindManagement}} {
				c, err := st.GetCA(ctx, id)
				if err != nil || c.Kind != kind[0] || c.Status != store.CAStatusActive {
					t.Fatalf("CA %s = %+v, %v", id, c, err)
				}
				cert, err := x509.ParseCertificate(c.CertDER)
				if err != nil || policy.IssuerKind(c.Kind, cert) != kind[1] {
					t.Fatalf("CA %s issues as %q, want %q (%v)", id, policy.IssuerKind(c.Kind, cert), kind[1], err)
				}
			}
			// The subject column is readable (RFC 4514, UTF-8), not hex.
			for _, m := range made {
				if m.Role == "crl" {
					continue
				}
				stored, err := st.GetCertificate(ctx, issuerOf(m), m.Cert.SerialNumber)
				if err != nil {
					t.Fatalf("%s %s stored: %v", m.Role, m.ID, err)
				}
				if stored.Subject != policy.SubjectString(m.Cert.RawSubject) || strings.Contains(stored.Subject, "#") ||
					!strings.Contains(stored.Subject, "O=Маркази миллии сертификатсиякунӣ (DEMO)") ||
					!strings.Contains(stored.Subject, "organizationIdentifier=NTRTJ-0000000001") {
					t.Errorf("%s %s: stored subject %q", m.Role, m.ID, stored.Subject)
				}
			}
			crl, err := st.LatestCRL(ctx, "root-demo")
			if err != nil {
				t.Fatal(err)
			}
			rl, err := x509.ParseRevocationList(crl.DER)
			if err != nil || rl.Number.Int64() != 1 {
				t.Fatalf("root CRL: %v", err)
			}
			if d := rl.NextUpdate.Sub(rl.ThisUpdate); d <= 0 || d > policy.MaxCRLValidity {
				t.Fatalf("root CRL validity %v", d)
			}
			for _, role := range []string{store.SignerRoleOCSP, store.SignerRoleTSA} {
				s, err := st.LatestSigner(ctx, role, "qca-demo")
				if err != nil {
					t.Fatalf("%s signer: %v", role, err)
				}
				if _, err := st.GetCertificate(ctx, "qca-demo", s.Serial); err != nil {
					t.Fatalf("%s signer certificate: %v", role, err)
				}
			}
			rep, err := audit.Verify(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := st.AuditRecords(ctx, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			actions := map[string]int{}
			for _, r := range recs {
				actions[r.Action]++
			}
			if actions["key.generate"] != 8 || actions["audit.checkpoint.key"] != 1 || actions["ca.create"] != 4 || actions["crl.issue"] != 4 ||
				actions["cert.issue"] != 7 || actions["ceremony.complete"] != 1 {
				t.Fatalf("audit actions %v", actions)
			}

			// A second run refuses and changes nothing.
			_, err = cer.Run(ctx, demoPlan(t))
			if !errors.Is(err, ca.ErrAlreadyDone) {
				t.Fatalf("second run: %v", err)
			}
			after, err := audit.Verify(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			if after.Records != rep.Records {
				t.Fatalf("second run wrote %d audit records", after.Records-rep.Records)
			}
			infos2, _ := keys.Keys(ctx)
			if len(infos2) != len(infos) {
				t.Fatal("second run generated keys")
			}
		})
	}
}

func TestCeremonyRefusesBadPlans(t *testing.T) {
	cases := map[string]struct {
		mod  func(p *ca.Plan)
		want string
	}{
		"long crl":      {func(p *ca.Plan) { p.Root.CRLValidity *= 2 }, "root.crl_validity"},
		"dup label":     {func(p *ca.Plan) { p.TSA.Key.Label = p.Root.Key.Label }, "tsa.key.label"},
		"bad algorithm": {func(p *ca.Plan) { p.Root.Key.Algorithm = "rsa-1024" }, "root.key.algorithm"},
		"tsa issuer":    {func(p *ca.Plan) { p.TSA.Issuer = "root-demo" }, "tsa.issuer"},
		"bad id":        {func(p *ca.Plan) { p.Root.ID = "Root/1" }, "root.id"},
		"no actor":      {func(p *ca.Plan) { p.Actor = "" }, "actor"},
		// The one CA-id rule: a dot would be written into URLs the repository refuses.
		"dotted id":    {func(p *ca.Plan) { p.Issuing[0].ID = "qca.2027" }, "issuing[0].id"},
		"no suffixes":  {func(p *ca.Plan) { p.Services[0].DNSSuffixes = nil }, "services[0].dns_suffixes"},
		"bad suffix":   {func(p *ca.Plan) { p.Services[0].DNSSuffixes = []string{"*.gov.tj"} }, "services[0].dns_suffixes[0]"},
		"services id":  {func(p *ca.Plan) { p.Services[0].ID = p.Issuing[0].ID }, "services[0].id"},
		"services key": {func(p *ca.Plan) { p.Services[0].OCSPSigner.Key.Label = p.Issuing[0].Key.Label }, "services[0].ocsp_signer.key"},
		"tsa from svc": {func(p *ca.Plan) { p.TSA.Issuer = p.Services[0].ID }, "tsa.issuer"},
		"oid spelling": {func(p *ca.Plan) { p.PolicyOID = "1.3.6.1.4.1.059999.1.1" }, "policy_oid"},
		"tsa oid":      {func(p *ca.Plan) { p.TSA.Policies = []string{"0.4.0.2023.1.01"} }, "tsa.policies[0]"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := demoPlan(t)
			c.mod(p)
			err := p.Validate()
			if !errors.Is(err, ca.ErrPlan) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to name %s", err, c.want)
			}
		})
	}
}

func TestCeremonyNameRefusedBeforeSigning(t *testing.T) {
	ctx := context.Background()
	st := backends(t)["sqlite"](t)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	keys := openToken(t)
	p := demoPlan(t)
	p.Issuing[0].Subject.CommonName = "Evil\u202eAC"
	_, err := (&ca.Ceremony{Keys: keys, Store: st, PublicURL: "http://127.0.0.1:8080"}).Run(ctx, p)
	if err == nil || !strings.Contains(err.Error(), "CN") {
		t.Fatalf("bidi override in CN: err = %v", err)
	}
	if _, err := st.GetCA(ctx, "root-demo"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("failed ceremony stored the root: %v", err)
	}
	recs, _ := st.AuditRecords(ctx, 0, 100)
	if len(recs) == 0 || recs[len(recs)-1].Action != "ceremony.failed" {
		t.Fatalf("failure not audited: %+v", recs)
	}
	var _ hsm.KeyStore = keys
}

// issuerOf is the CA a made certificate is stored under: the root for CA
// certificates under it, the CA itself for roots and signers.
func issuerOf(m ca.Made) string {
	if m.Role == "issuing" || m.Role == "services" {
		return "root-demo"
	}
	return m.ID
}
