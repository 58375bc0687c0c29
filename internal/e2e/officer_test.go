package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/muhr-pki/muhr/internal/testpki"
)

// officerClient is an officer's HTTPS client, made from the config file
// `muhr officer bootstrap` wrote, as the CLI would read it.
type officerClient struct {
	server string
	http   *http.Client
}

func loadOfficer(t *testing.T, path string) *officerClient {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Server   string `yaml:"server"`
		CABundle string `yaml:"ca_bundle"`
		Cert     string `yaml:"cert"`
		Key      string `yaml:"key"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(c.Key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v %v", c.Key, fi.Mode(), err)
	}
	caPEM, err := os.ReadFile(c.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no certificate", c.CABundle)
	}
	return &officerClient{server: c.Server, http: &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}}}}
}

func (o *officerClient) call(t *testing.T, method, path string, in any, want int, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, o.server+"/api/v1"+path, body)
	req.Header.Set("Content-Type", "application/json")
	resp, err := o.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s (want %d)", method, path, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, b, err)
		}
	}
}

func TestOfficerFlowSQLite(t *testing.T) { officerFlow(t, newDemo(t)) }

func TestOfficerFlowPostgres(t *testing.T) {
	dsn := needPostgres(t)
	officerFlow(t, newDemoDB(t, "database:\n  driver: postgres\n  dsn: '"+dsn+"'\n"))
}

// officerFlow: bootstrap the four demo officers, start muhrd with the ra
// role, register a person with a Cyrillic name as registrar1, submit an
// openssl CSR, approve as registrar2, and check the certificate with
// openssl verify and its subject against the registration.
func officerFlow(t *testing.T, d *demo) {
	admin := freeAddr(t)
	f, err := os.OpenFile(d.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("admin_listen: " + admin + "\nra:\n  enabled: true\n")
	f.Close()
	dir := filepath.Join(d.home, "officers")
	for name, roles := range map[string]string{"registrar1": "registrar", "registrar2": "registrar,approver", "auditor": "auditor", "admin": "admin"} {
		out := d.run(t, "officer", "bootstrap", "--config", d.cfg, "--name", name, "--roles", roles, "--out-dir", dir)
		if !strings.Contains(out, "officer "+name) {
			t.Fatalf("bootstrap %s: %s", name, out)
		}
	}
	// A second bootstrap of a name never overwrites its key.
	if out, err := d.command("officer", "bootstrap", "--config", d.cfg, "--name", "admin", "--roles", "admin", "--out-dir", dir).CombinedOutput(); err == nil {
		t.Fatalf("bootstrap over an existing officer succeeded: %s", out)
	}
	m := d.serve(t)
	defer m.stop(t)
	reg1 := loadOfficer(t, filepath.Join(dir, "registrar1.yaml"))
	reg2 := loadOfficer(t, filepath.Join(dir, "registrar2.yaml"))
	aud := loadOfficer(t, filepath.Join(dir, "auditor.yaml"))
	if reg1.server != "https://"+admin {
		t.Fatalf("config names server %s, want https://%s", reg1.server, admin)
	}
	var who struct{ Name string }
	reg1.call(t, "GET", "/whoami", nil, 200, &who)
	if who.Name != "registrar1" {
		t.Fatalf("whoami = %+v", who)
	}

	var sub struct{ ID string }
	reg1.call(t, "POST", "/subscribers", map[string]any{"kind": "person",
		"person":   map[string]string{"surname": "Раҳимов", "given_name": "Ҷамшед", "patronymic": "Ғафурович", "personal_number": "123456789012", "country": "TJ"},
		"evidence": map[string]string{"type": "passport", "number": "A1234567"}}, 201, &sub)
	key, csr := filepath.Join(d.home, "me.key"), filepath.Join(d.home, "me.csr")
	openssl(t, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj", "/CN=ignored", "-out", csr)
	csrPEM, _ := os.ReadFile(csr)
	var req struct{ ID, Status, Serial, Certificate string }
	reg1.call(t, "POST", "/requests", map[string]any{"subscriber_id": sub.ID, "profile": "qes-person", "csr": string(csrPEM)}, 201, &req)
	reg1.call(t, "POST", "/requests/"+req.ID+"/approve", map[string]any{}, 403, nil)
	reg2.call(t, "POST", "/requests/"+req.ID+"/approve", map[string]any{}, 200, &req)
	if req.Status != "issued" || req.Serial == "" {
		t.Fatalf("approved: %+v", req)
	}
	var cert struct{ Serial, Status, Certificate string }
	reg1.call(t, "GET", "/certificates/"+req.Serial, nil, 200, &cert)
	leaf := filepath.Join(d.home, "me.pem")
	os.WriteFile(leaf, []byte(cert.Certificate), 0o644)
	d.verifyChain(t, []string{leaf})
	subject := strings.TrimSpace(openssl(t, "x509", "-in", leaf, "-noout", "-subject", "-nameopt", "utf8,sep_comma_plus"))
	want := "subject=C=TJ,SN=Раҳимов,GN=Ҷамшед Ғафурович,serialNumber=PNOTJ-123456789012,CN=Раҳимов Ҷамшед Ғафурович"
	if subject != want {
		t.Fatalf("subject %q\nwant    %q", subject, want)
	}
	serial := strings.TrimSpace(strings.TrimPrefix(openssl(t, "x509", "-in", leaf, "-noout", "-serial"), "serial="))
	if serial != req.Serial {
		t.Errorf("openssl serial %s, API serial %s", serial, req.Serial)
	}
	blk, _ := pem.Decode([]byte(cert.Certificate))
	if c, err := x509.ParseCertificate(blk.Bytes); err != nil || c.Subject.CommonName != "Раҳимов Ҷамшед Ғафурович" {
		t.Fatalf("certificate: %v", err)
	}

	// The audit log holds the steps with their officers and verifies.
	var page struct {
		Records []struct{ Actor, Action string }
	}
	aud.call(t, "GET", "/audit?limit=1000", nil, 200, &page)
	got := map[string]string{}
	for _, r := range page.Records {
		got[r.Action] += r.Actor + " "
	}
	for action, actor := range map[string]string{"officer.add": "bootstrap", "subscriber.register": "officer:registrar1",
		"request.submit": "officer:registrar1", "request.approve": "officer:registrar2", "cert.issue": "officer:registrar2",
		"officer.forbidden": "officer:registrar1"} {
		if !strings.Contains(got[action], actor) {
			t.Errorf("audit %s by %q, want %s", action, got[action], actor)
		}
	}
	var v struct {
		OK       bool
		Problems []string
	}
	aud.call(t, "GET", "/audit/verify", nil, 200, &v)
	if !v.OK {
		t.Fatalf("audit verify: %+v", v)
	}
	m.noPanic(t)
}

// TestQuickstartOfficers: the quickstart makes the four demo officers,
// each with a config the officer API accepts and the roles the README
// names (registrar2 approves, registrar1 does not).
func TestQuickstartOfficers(t *testing.T) {
	testpki.Tool(t, "openssl")
	testpki.Tool(t, "softhsm2-util")
	home := filepath.Join(t.TempDir(), "muhr")
	cmd, out, done := startQuickstart(t, home, freeAddr(t))
	for name, roles := range map[string]string{"registrar1": "registrar", "registrar2": "approver,registrar", "auditor": "auditor", "admin": "admin"} {
		o := loadOfficer(t, filepath.Join(home, "officers", name+".yaml"))
		var who struct {
			Name  string
			Roles []string
		}
		o.call(t, "GET", "/whoami", nil, 200, &who)
		if who.Name != name || strings.Join(who.Roles, ",") != roles {
			t.Errorf("%s: whoami %+v, want roles %s", name, who, roles)
		}
	}
	stop(t, cmd, done, out)
}
