package ca_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/policy"
)

const svcJSON = `{"kind":"organization","name":"Агентии алоқа","registration_number":"7654321","tax_number":"987654321","country":"TJ","dns_names":[%s]}`

func tlsIdentity(t *testing.T, names ...string) policy.Identity {
	t.Helper()
	return identity(t, strings.Replace(svcJSON, "%s", `"`+strings.Join(names, `","`)+`"`, 1))
}

// Departmental TLS certificates come from the services CA only, for names
// inside its DNS suffix only; the qualified CA issues none.
func TestServicesCAIssuance(t *testing.T) {
	ctx := context.Background()
	c := newCenter(t, "sqlite")
	svc := c.issuer(t, "svc-demo", c.keys, nil)
	qca := c.issuer(t, "qca-demo", c.keys, nil)
	tlsReq := func(id string, iss *ca.Issuer, names ...string) error {
		_, err := iss.IssueRequest(ctx, ca.Request{ID: id, Profile: "tls-server", CSR: csrFor(t, newKey(t), nil),
			Identity: tlsIdentity(t, names...), Actor: "officer-a"})
		return err
	}

	cert, err := svc.IssueRequest(ctx, ca.Request{ID: "tls-1", Profile: "tls-server", CSR: csrFor(t, newKey(t), nil),
		Identity: tlsIdentity(t, "portal.demo.gov.tj", "demo.gov.tj"), Actor: "officer-a"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := policy.Lint(cert.Raw, policy.KindTLSServer)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Problems() {
		t.Errorf("lint: %v", f)
	}
	leaf := writePEM(t, c.dir, "tls.pem", cert.Raw)
	svcPEM := writePEM(t, c.dir, "services.pem", c.made["services"])
	c.openssl(t, "verify", "-CAfile", c.roots, "-untrusted", svcPEM, "-purpose", "sslserver", "-verify_hostname", "portal.demo.gov.tj",
		"-policy_check", "-explicit_policy", "-policy", "1.3.6.1.4.1.59999.1.1", leaf)
	stored, err := c.st.GetCertificate(ctx, "svc-demo", cert.SerialNumber)
	if err != nil || !strings.HasPrefix(stored.Profile, "tls-server/v") {
		t.Fatalf("stored: %+v %v", stored.Profile, err)
	}

	// The qualified CA refuses tls-server even for a name inside the suffix.
	if err := tlsReq("tls-2", qca, "portal.demo.gov.tj"); !errors.Is(err, ca.ErrWrongIssuer) {
		t.Errorf("tls-server from the qualified CA: %v", err)
	}
	// The services CA refuses names outside its suffix, naming the field.
	for _, names := range [][]string{{"www.google.com"}, {"portal.demo.gov.tj", "gov.tj"}, {"evildemo.gov.tj"}} {
		err := tlsReq("tls-out-"+names[len(names)-1], svc, names...)
		field := "dns_names[" + string(rune('0'+len(names)-1)) + "]"
		if !errors.Is(err, ca.ErrRequest) || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), "outside the names this CA may certify (demo.gov.tj)") {
			t.Errorf("%v from the services CA: %v", names, err)
		}
	}
	// And it issues nothing qualified.
	_, err = svc.IssueRequest(ctx, ca.Request{ID: "qes-from-svc", Profile: "qes-person", CSR: csrFor(t, newKey(t), nil),
		Identity: identity(t, personJSON), Actor: "officer-a"})
	if !errors.Is(err, ca.ErrWrongIssuer) {
		t.Errorf("qes-person from the services CA: %v", err)
	}
}

// The certificates table holds the subject as people read and search it.
func TestStoredSubjectReadable(t *testing.T) {
	ctx := context.Background()
	c := newCenter(t, "sqlite")
	qca := c.issuer(t, "qca-demo", c.keys, nil)
	cert, err := qca.IssueRequest(ctx, ca.Request{ID: "qes-1", Profile: "qes-person", CSR: csrFor(t, newKey(t), nil),
		Identity: identity(t, personJSON), Actor: "officer-a"})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := c.st.GetCertificate(ctx, "qca-demo", cert.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	const want = "CN=Раҳимов Ҷамшед Ғафурович,serialNumber=PNOTJ-123456789012,givenName=Ҷамшед Ғафурович,SN=Раҳимов,C=TJ"
	if stored.Subject != want {
		t.Errorf("stored subject %q, want %q", stored.Subject, want)
	}
}

// A validity for a profile that does not exist is refused, not ignored.
func TestIssuerRefusesUnknownValidityProfile(t *testing.T) {
	ctx := context.Background()
	c := newCenter(t, "sqlite")
	o := ca.IssuerOptions{CAID: "qca-demo", Store: c.st, Keys: c.keys, Settings: settings()}
	o.Settings.Validity = map[string]time.Duration{"qes-persn": 24 * time.Hour}
	iss, err := ca.NewIssuer(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = iss.IssueRequest(ctx, ca.Request{ID: "v-1", Profile: "qes-person", CSR: csrFor(t, newKey(t), nil),
		Identity: identity(t, personJSON), Actor: "officer-a"})
	if !errors.Is(err, ca.ErrSettings) || !strings.Contains(err.Error(), "issuance.validity.qes-persn") {
		t.Errorf("unknown profile in validity: %v", err)
	}
}
