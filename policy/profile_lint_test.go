package policy

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"slices"
	"strings"
	"testing"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"
)

// Every profile, signed by the in-memory hierarchy, draws no zlint error
// or warning from the sources its kind applies, and no finding of ours;
// the pre-issuance lint (throwaway key) agrees with the real certificate.
func TestProfilesLintClean(t *testing.T) {
	h := buildHierarchy(t)
	l := NewLinter()
	for _, c := range profileCases(t) {
		t.Run(c.name, func(t *testing.T) {
			got := issueProfile(t, h, c)
			ca, _ := h.issuerFor(t, c.caKind)
			pre, err := l.PreIssue(got.tmpl, ca.cert, c.key.Public(), got.kind)
			if err != nil {
				t.Fatal(err)
			}
			r, err := l.Lint(got.der, got.kind)
			if err != nil {
				t.Fatal(err)
			}
			for _, res := range []Result{pre, r} {
				if err := res.Err(); err != nil {
					t.Error(err)
				}
				for _, f := range res.Findings {
					if !slices.Contains(acceptedProfileWarnings[got.kind], f.Lint) || f.Accepted == "" {
						t.Errorf("%s: %s", got.kind, f)
					}
				}
			}
		})
	}
}

// acceptedProfileWarnings are the warnings a profile may draw with the
// test hierarchy, accepted in lintprofile.go with the reason.
var acceptedProfileWarnings = map[Kind][]string{
	// The test repository is at 127.0.0.1, as in the quickstart.
	KindTLSServer: {"w_sub_cert_aia_contains_internal_names"},
}

// With a public repository host the TLS certificate draws no warning at all.
func TestTLSServerPublicRepositoryLintsClean(t *testing.T) {
	h := buildHierarchy(t)
	c := profileCases(t)[4]
	p, err := ProfileByName(c.profile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.profileConfig(t, CAKindServices, false)
	if cfg.IssuerLinks, err = CALinks("http://pki.muhr.tj", "services-1"); err != nil {
		t.Fatal(err)
	}
	tmpl, err := p.Build(c.id, c.key.Public(), h.services.cert, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := PreIssue(tmpl, h.services.cert, c.key.Public(), KindTLSServer)
	if err != nil || len(r.Findings) != 0 {
		t.Errorf("%v %v", err, r.Findings)
	}
}

// Our lints catch what zlint does not, on templates edited after Build.
func TestOwnLints(t *testing.T) {
	h := buildHierarchy(t)
	l := NewLinter()
	qes := issueProfile(t, h, profileCases(t)[0])
	key := qes.key.Public()

	mixedKU := *qes.tmpl
	mixedKU.KeyUsage |= x509.KeyUsageDigitalSignature
	expectFinding(t, l, &mixedKU, h.issuing.cert, key, KindQESPerson, "e_muhr_key_usage_not_non_repudiation_only")

	noQC := *qes.tmpl
	noQC.ExtraExtensions = nil
	expectFinding(t, l, &noQC, h.issuing.cert, key, KindQESPerson, "e_muhr_qcstatements")

	// A seal's statements in a person's certificate: type and semantics differ.
	seal := issueProfile(t, h, profileCases(t)[2])
	swapped := *qes.tmpl
	swapped.ExtraExtensions = seal.tmpl.ExtraExtensions
	expectFinding(t, l, &swapped, h.issuing.cert, key, KindQESPerson, "e_muhr_qcstatements")

	// QcSSCD without the -qscd policy.
	plainPolicy := *qes.tmpl
	if err := setPolicies(&plainPolicy, []x509.OID{oidQCPn, testCenterPolicy}); err != nil {
		t.Fatal(err)
	}
	expectFinding(t, l, &plainPolicy, h.issuing.cert, key, KindQESPerson, "QcSSCD must be present exactly")

	noPolicy := *qes.tmpl
	noPolicy.Policies, noPolicy.PolicyIdentifiers = nil, nil
	expectFinding(t, l, &noPolicy, h.issuing.cert, key, KindQESPerson, "e_muhr_policy_missing")

	// A subject attribute written as PrintableString with a bidi override
	// slipped in by hand (MarshalSubject would refuse it).
	bidi := *qes.tmpl
	bidi.RawSubject = rawName(t, Attribute{oidCountry, "TJ"}, Attribute{oidCommonName, "Раҳимов \u202EҶамшед"})
	expectFinding(t, l, &bidi, h.issuing.cert, key, KindQESPerson, "e_muhr_subject_name_rules")

	tls := issueProfile(t, h, profileCases(t)[4])
	withQC := *tls.tmpl
	withQC.ExtraExtensions = qes.tmpl.ExtraExtensions
	expectFinding(t, l, &withQC, h.issuing.cert, tls.key.Public(), KindTLSServer, "e_muhr_qcstatements_not_qualified")
}

// rawName encodes attributes without MarshalSubject's checks.
func rawName(t *testing.T, attrs ...Attribute) []byte {
	t.Helper()
	var seq []relativeNameSET
	for _, a := range attrs {
		v := asn1.RawValue{Class: asn1.ClassUniversal, Tag: tagUTF8String, Bytes: []byte(a.Value)}
		seq = append(seq, relativeNameSET{{Type: a.Type, Value: v}})
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func expectFinding(t *testing.T, l *Linter, tmpl, parent *x509.Certificate, pub any, kind Kind, want string) {
	t.Helper()
	r, err := l.PreIssue(tmpl, parent, pub, kind)
	if err != nil {
		t.Fatalf("%s: %v", want, err)
	}
	err = r.Err()
	if !errors.Is(err, ErrLint) || !strings.Contains(err.Error(), want) {
		t.Errorf("want a finding %q, got %v", want, err)
	}
}

// BenchmarkLintQES measures linting a qes-person certificate: Build alone;
// PreIssue (throwaway signature, both parsers, zlint with the RFC, ETSI
// and Community sources, our lints), the per-certificate cost in the
// issuer; and Lint of the signed DER (parsers, zlint, our lints).
func BenchmarkLintQES(b *testing.B) {
	h := buildHierarchy(b)
	c := profileCases(b)[0]
	p, err := ProfileByName(c.profile)
	if err != nil {
		b.Fatal(err)
	}
	cfg := h.profileConfig(b, CAKindIssuing, true)
	got := issueProfile(b, h, c)
	l := NewLinter()
	if _, err := l.PreIssue(got.tmpl, h.issuing.cert, c.key.Public(), KindQESPerson); err != nil {
		b.Fatal(err) // warms the registry and throwaway key caches
	}
	b.Run("Build", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.Build(c.id, c.key.Public(), h.issuing.cert, cfg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PreIssue", func(b *testing.B) {
		for b.Loop() {
			r, err := l.PreIssue(got.tmpl, h.issuing.cert, c.key.Public(), KindQESPerson)
			if err != nil || r.Err() != nil {
				b.Fatal(err, r.Err())
			}
		}
	})
	b.Run("Lint", func(b *testing.B) {
		for b.Loop() {
			r, err := l.Lint(got.der, KindQESPerson)
			if err != nil || r.Err() != nil {
				b.Fatal(err, r.Err())
			}
		}
	})
	b.Run("LintParallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if r, err := l.Lint(got.der, KindQESPerson); err != nil || r.Err() != nil {
					b.Fatal(err, r.Err())
				}
			}
		})
	})
}

// The ETSI lints do run on our qualified certificates (a lint that does
// not apply passes silently, which would prove nothing).
func TestETSILintsApply(t *testing.T) {
	h := buildHierarchy(t)
	l := NewLinter()
	cases := profileCases(t)
	for _, c := range []profileCase{cases[0], cases[2]} {
		got := issueProfile(t, h, c)
		prof, err := profileFor(got.kind)
		if err != nil {
			t.Fatal(err)
		}
		reg, err := l.registry(got.kind, prof)
		if err != nil {
			t.Fatal(err)
		}
		zc, err := zx509.ParseCertificate(got.der)
		if err != nil {
			t.Fatal(err)
		}
		rs := zlint.LintCertificateEx(zc, reg)
		// e_qcstatem_qctype_valid is retired for certificates issued since
		// 2023-07-01 (EN 319 411-2 v2.5.0); e_qcstatem_qctype_oneonly
		// replaced it, and our own lint checks the type per profile.
		want := []string{
			"e_qcstatem_mandatory_etsi_statems", "e_qcstatem_qccompliance_valid", "e_qcstatem_qcpds_valid",
			"w_qcstatem_qcpds_lang_case", "e_qcstatem_pds_must_have_https_only", "e_qcstatem_qcsscd_valid",
			"e_qcstatem_etsi_type_as_statem", "e_qcstatem_qctype_oneonly", "e_qcstatem_etsi_present_qcs_critical",
		}
		if c.profile == ProfileQESPerson {
			want = append(want, "e_etsi_natural_person_key_usage_mandatory", "e_etsi_natural_person_key_usage_correct_values",
				"w_etsi_natural_person_key_usage_preferred_values")
		}
		for _, name := range want {
			if r, ok := rs.Results[name]; !ok || r.Status != lint.Pass {
				t.Errorf("%s: %s did not pass: %v", c.name, name, rs.Results[name])
			}
		}
		passed := 0
		for name, r := range rs.Results {
			if r.LintMetadata.Source == lint.EtsiEsi && r.Status == lint.Pass {
				passed++
				t.Logf("%s: %s passes", c.name, name)
			}
		}
		if passed < 8 {
			t.Errorf("%s: only %d ETSI lints passed; do they apply?", c.name, passed)
		}
	}
}
