package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/ra/api"
	rat "github.com/muhr-pki/muhr/ra/ratest"
	"github.com/muhr-pki/muhr/raclient"
	"github.com/muhr-pki/muhr/store"
)

// raCenter is the real registration service (ra, on a real store and a
// SoftHSM2 token) behind the real API handler and mTLS config, in-process.
type raCenter struct {
	*rat.Center
	url, dir, caBundle, roots, inter string
}

func newRACenter(t *testing.T, backend string) *raCenter {
	t.Helper()
	c := rat.New(t, backend, nil)
	dir := t.TempDir()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "officer api"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := api.TLSConfig(api.TLSOptions{Certificate: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}, ClientCAs: c.MgmtPool,
		Refused: func(cert *x509.Certificate, remote, reason string) {
			_ = c.Service.Refused(context.Background(), cert, remote, reason)
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(api.New(c.Service, nil))
	srv.TLS = cfg
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	rc := &raCenter{Center: c, url: srv.URL, dir: dir, caBundle: filepath.Join(dir, "server-ca.pem"),
		roots: filepath.Join(dir, "roots.pem"), inter: filepath.Join(dir, "inter.pem")}
	os.WriteFile(rc.caBundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	cas, err := c.Store.ListCAs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var roots, inter []byte
	for _, row := range cas {
		p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: row.CertDER})
		if row.Kind == store.CAKindRoot {
			roots = append(roots, p...)
		} else {
			inter = append(inter, p...)
		}
	}
	os.WriteFile(rc.roots, roots, 0o644)
	os.WriteFile(rc.inter, inter, 0o644)
	return rc
}

// officer makes an officer and writes its key, certificate and config.
func (rc *raCenter) officer(t *testing.T, name string, roles ...string) string {
	t.Helper()
	_, cert := rc.Officer(t, name, roles...)
	keyPath, certPath, cfg := filepath.Join(rc.dir, name+".key"), filepath.Join(rc.dir, name+".crt"), filepath.Join(rc.dir, name+".yaml")
	p8, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600)
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644)
	os.WriteFile(cfg, []byte(fmt.Sprintf("server: %s\nca_bundle: %s\ncert: %s\nkey: %s\ntimeout: 60s\n", rc.url, rc.caBundle, certPath, keyPath)), 0o600)
	return cfg
}

func (rc *raCenter) opensslVerify(t *testing.T, pemCert string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "leaf.pem")
	os.WriteFile(f, []byte(pemCert), 0o644)
	out, err := exec.Command(testpki.Tool(t, "openssl"), "verify", "-CAfile", rc.roots, "-untrusted", rc.inter, f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
}

func leafOf(t *testing.T, p string) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode([]byte(p))
	if blk == nil {
		t.Fatalf("no PEM certificate: %q", p)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	oidQCPn     = asn1.ObjectIdentifier{0, 4, 0, 194112, 1, 0}
	oidQCPnQSCD = asn1.ObjectIdentifier{0, 4, 0, 194112, 1, 2}
)

func hasPolicy(c *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	return slices.ContainsFunc(c.PolicyIdentifiers, func(o asn1.ObjectIdentifier) bool { return o.Equal(oid) })
}

// The officer flow of the issue against the real registration service:
// a Cyrillic person registered by registrar1, an openssl CSR, approval by
// registrar2 (registrar1 may not), the certificate fetched, verified by
// openssl, its subject as registered; a card enrolment yields QCP-n-qscd;
// revoke, suspend, resume; the audit log lists the officers as actors.
func TestOfficerCLIAgainstRA(t *testing.T) {
	for _, backend := range rat.Backends {
		t.Run(backend, func(t *testing.T) { officerCLIFlow(t, backend) })
	}
}

func officerCLIFlow(t *testing.T, backend string) {
	rc := newRACenter(t, backend)
	reg1 := rc.officer(t, "registrar1", "registrar")
	reg2 := rc.officer(t, "registrar2", "registrar", "approver")
	aud := rc.officer(t, "auditor", "auditor")
	dir := t.TempDir()

	var sub raclient.Subscriber
	jsonOf(t, muhrRun(t, "subscriber", "register", "person", "--config", reg1, "-o", "json", "--surname", "Раҳимов", "--given-name", "Фирӯз",
		"--patronymic", "Ғафурович", "--personal-number", "0123456789", "--country", "TJ", "--evidence-type", "passport", "--evidence-number", "A1234567").must(t, 0, "register"), &sub)
	if sub.ID == "" || sub.Person == nil || sub.Person.GivenName != "Фирӯз" || sub.CreatedBy != "registrar1" {
		t.Fatalf("registered %+v", sub)
	}
	bad := muhrRun(t, "subscriber", "register", "person", "--config", reg1, "--surname", "X", "--given-name", "Y", "--personal-number", "12ab", "--country", "TJ").must(t, 1, "bad number")
	if !strings.Contains(bad.errOut, "personal_number") {
		t.Errorf("refusal without the field: %s", bad.errOut)
	}
	muhrRun(t, "subscriber", "search", "'; DROP TABLE certificates; --", "--config", reg1).must(t, 0, "search SQL text")
	if s := muhrRun(t, "subscriber", "search", "Раҳимов", "--config", reg2).must(t, 0, "search"); !strings.Contains(s.out, sub.ID) {
		t.Errorf("search:\n%s", s.out)
	}

	var req raclient.Request
	jsonOf(t, muhrRun(t, "request", "submit", "--config", reg1, "-o", "json", "--subscriber", sub.ID, "--profile", "qes-person", "--csr", opensslCSR(t, dir, "a")).must(t, 0, "submit"), &req)
	if req.Status != "pending" {
		t.Fatalf("submitted %+v", req)
	}
	muhrRun(t, "request", "approve", req.ID, "--config", reg1).must(t, 1, "registrar1 approving")
	var done raclient.Request
	jsonOf(t, muhrRun(t, "request", "approve", req.ID, "--config", reg2, "-o", "json").must(t, 0, "approve"), &done)
	if done.Status != "issued" || done.Serial == "" {
		t.Fatalf("approved %+v", done)
	}
	again := muhrRun(t, "request", "approve", req.ID, "--config", reg2).must(t, 1, "approve again")
	if !strings.Contains(again.errOut, "issued") {
		t.Errorf("second approval: %s", again.errOut)
	}
	got := muhrRun(t, "cert", "get", "serial="+strings.ToLower(done.Serial), "--config", reg1).must(t, 0, "cert get")
	rc.opensslVerify(t, got.out)
	leaf := leafOf(t, got.out)
	var cn, sn, gn, pno string
	for _, a := range leaf.Subject.Names {
		switch {
		case a.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 3}):
			cn = fmt.Sprint(a.Value)
		case a.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 4}):
			sn = fmt.Sprint(a.Value)
		case a.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 42}):
			gn = fmt.Sprint(a.Value)
		case a.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 5}):
			pno = fmt.Sprint(a.Value)
		}
	}
	// The names byte for byte as registered (the patronymic goes with the
	// given name), the personal number in serialNumber (ETSI semantics).
	if sn != "Раҳимов" || gn != "Фирӯз Ғафурович" || cn != "Раҳимов Фирӯз Ғафурович" || pno != "PNOTJ-0123456789" {
		t.Errorf("subject %q (CN %q SN %q GN %q) is not the registered identity", leaf.Subject, cn, sn, gn)
	}
	if hasPolicy(leaf, oidQCPnQSCD) || !hasPolicy(leaf, oidQCPn) {
		t.Errorf("a CSR from a file got policies %v; want QCP-n", leaf.PolicyIdentifiers)
	}
	if raclient.FormatSerial(leaf.SerialNumber) != done.Serial {
		t.Errorf("serial %s vs %s", raclient.FormatSerial(leaf.SerialNumber), done.Serial)
	}

	// Card enrolment at the counter → QCP-n-qscd.
	card := testpki.SoftHSM(t)
	var enr struct {
		ID string `json:"id"`
	}
	jsonOf(t, muhrRun(t, "token", "enroll", "--config", reg1, "-o", "json", "--subscriber", sub.ID, "--profile", "qes-person",
		"--module", card.Module, "--token", card.Label, "--pin-file", card.PINFile).must(t, 0, "token enroll"), &enr)
	var q raclient.Request
	jsonOf(t, muhrRun(t, "request", "approve", enr.ID, "--config", reg2, "-o", "json").must(t, 0, "approve the card's request"), &q)
	if !q.QSCD {
		t.Errorf("card request not marked qscd: %+v", q)
	}
	ql := leafOf(t, q.Certificate)
	if !hasPolicy(ql, oidQCPnQSCD) {
		t.Errorf("card certificate policies %v; want QCP-n-qscd", ql.PolicyIdentifiers)
	}
	rc.opensslVerify(t, q.Certificate)

	// An organization represented by the person; a qseal-org request.
	var org raclient.Subscriber
	jsonOf(t, muhrRun(t, "subscriber", "register", "organization", "--config", reg1, "-o", "json", "--name", "Вазорати молия",
		"--registration-number", "0110000001", "--tax-number", "020000001", "--country", "TJ", "--representative", sub.ID).must(t, 0, "register organization"), &org)
	if org.Organization == nil || org.Organization.Name != "Вазорати молия" {
		t.Fatalf("organization %+v", org)
	}

	// A subscriber who calls in proves it is them with the passphrase.
	pass := filepath.Join(dir, "pass.txt")
	os.WriteFile(pass, []byte("сирри ман 42\n"), 0o600)
	wrong := filepath.Join(dir, "wrong.txt")
	os.WriteFile(wrong, []byte("not it\n"), 0o600)
	var ps raclient.Subscriber
	jsonOf(t, muhrRun(t, "subscriber", "register", "person", "--config", reg1, "-o", "json", "--surname", "Каримова", "--given-name", "Нилуфар",
		"--personal-number", "0123456780", "--country", "TJ", "--passphrase-file", pass).must(t, 0, "register with passphrase"), &ps)
	if !ps.HasPassphrase {
		t.Fatalf("passphrase not recorded: %+v", ps)
	}
	var pr raclient.Request
	jsonOf(t, muhrRun(t, "request", "submit", "--config", reg1, "-o", "json", "--subscriber", ps.ID, "--profile", "qes-person", "--csr", opensslCSR(t, dir, "p")).must(t, 0, "submit"), &pr)
	jsonOf(t, muhrRun(t, "request", "approve", pr.ID, "--config", reg2, "-o", "json").must(t, 0, "approve"), &pr)
	muhrRun(t, "cert", "suspend", pr.Serial, "--passphrase-file", wrong, "--config", reg1).must(t, 1, "wrong passphrase")
	muhrRun(t, "cert", "suspend", pr.Serial, "--passphrase-file", pass, "--config", reg1).must(t, 0, "right passphrase")

	// Revoke, suspend, resume through the CLI.
	muhrRun(t, "cert", "suspend", q.Serial, "--config", reg1).must(t, 0, "suspend")
	var c raclient.Certificate
	jsonOf(t, muhrRun(t, "cert", "get", q.Serial, "--config", reg1, "-o", "json").must(t, 0, "get suspended"), &c)
	if c.Status != "suspended" {
		t.Errorf("after suspend: %s", c.Status)
	}
	muhrRun(t, "cert", "resume", q.Serial, "--config", reg1).must(t, 0, "resume")
	jsonOf(t, muhrRun(t, "cert", "revoke", done.Serial, "--reason", "keyCompromise", "--config", reg1, "-o", "json").must(t, 0, "revoke"), &c)
	if c.Status != "revoked" {
		t.Errorf("after revoke: %+v", c)
	}
	muhrRun(t, "cert", "revoke", done.Serial, "--reason", "keyCompromise", "--config", reg1).must(t, 1, "revoke twice")
	muhrRun(t, "cert", "revoke", q.Serial, "--reason", "superseded", "--config", aud).must(t, 1, "auditor revoking")
	if l := muhrRun(t, "cert", "list", "--subscriber", sub.ID, "--config", reg2).must(t, 0, "cert list"); !strings.Contains(l.out, "revoked") || !strings.Contains(l.out, q.Serial) {
		t.Errorf("cert list:\n%s", l.out)
	}

	var recs struct{ Records []raclient.AuditRecord }
	jsonOf(t, muhrRun(t, "audit", "list", "--config", aud, "-o", "json").must(t, 0, "audit list"), &recs)
	actors := map[string]bool{}
	for _, r := range recs.Records {
		actors[r.Actor] = true
	}
	for _, who := range []string{"registrar1", "registrar2"} {
		found := false
		for a := range actors {
			if strings.Contains(a, who) {
				found = true
			}
		}
		if !found {
			t.Errorf("no audit record by %s (actors %v)", who, actors)
		}
	}
	v := muhrRun(t, "audit", "verify", "--config", aud).must(t, 0, "audit verify via API")
	if !strings.Contains(v.out, "audit chain OK") {
		t.Errorf("audit verify:\n%s", v.out)
	}
}

// Officer management against the real service: an admin adds an officer
// (key made here, config written), who works at once; deactivated, they
// are refused (exit 1); a certificate from another CA fails TLS (exit 3).
func TestOfficerAdminAgainstRA(t *testing.T) {
	rc := newRACenter(t, "sqlite")
	admin := rc.officer(t, "admin", "admin")
	out := filepath.Join(t.TempDir(), "officers")
	var o raclient.Officer
	jsonOf(t, muhrRun(t, "officer", "add", "--name", "registrar3", "--roles", "registrar", "--out-dir", out, "--config", admin, "-o", "json").must(t, 0, "officer add"), &o)
	if o.ID == "" || !o.Active || o.Certificate == "" {
		t.Fatalf("added %+v", o)
	}
	reg3 := filepath.Join(out, "registrar3.yaml")
	muhrRun(t, "request", "list", "--config", reg3).must(t, 0, "new officer works")
	if l := muhrRun(t, "officer", "list", "--config", admin).must(t, 0, "officer list"); !strings.Contains(l.out, "registrar3") {
		t.Errorf("officer list:\n%s", l.out)
	}
	muhrRun(t, "officer", "list", "--config", reg3).must(t, 1, "registrar listing officers")
	muhrRun(t, "officer", "deactivate", o.ID, "--config", admin).must(t, 0, "deactivate")
	r := muhrRun(t, "request", "list", "--config", reg3).must(t, 1, "deactivated officer")
	if !strings.Contains(r.errOut, "refused by the server") {
		t.Errorf("deactivated: %s", r.errOut)
	}

	// An officer of another center: its certificate is not from this
	// management CA, so the handshake fails.
	other := newRACenter(t, "sqlite")
	stranger := other.officer(t, "registrar1", "registrar")
	b, _ := os.ReadFile(stranger)
	body := strings.Replace(string(b), other.url, rc.url, 1)
	body = strings.Replace(body, other.caBundle, rc.caBundle, 1)
	os.WriteFile(stranger, []byte(body), 0o600)
	r = muhrRun(t, "request", "list", "--config", stranger).must(t, 3, "certificate from another CA")
	if !strings.Contains(r.errOut, "client certificate") {
		t.Errorf("foreign certificate: %s", r.errOut)
	}
}
