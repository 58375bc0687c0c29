package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/internal/testpki"
)

// cliResult is one run of the built muhr binary.
type cliResult struct {
	out, errOut string
	code        int
}

// officerCLI runs the built muhr as the officer whose config is cfg.
func (d *demo) officerCLI(t *testing.T, cfg string, args ...string) cliResult {
	t.Helper()
	cmd := d.command(args...)
	cmd.Env = append(cmd.Env, "MUHR_CONFIG="+cfg)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := cliResult{out: out.String(), errOut: errOut.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("muhr %v: %v", args, err)
	}
	return r
}

func (r cliResult) want(t *testing.T, code int, what string) cliResult {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what, r.code, code, r.out, r.errOut)
	}
	return r
}

func (r cliResult) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.out), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.out)
	}
}

func TestOfficerCLISQLite(t *testing.T) { officerCLI(t, newDemo(t)) }

func TestOfficerCLIPostgres(t *testing.T) {
	dsn := needPostgres(t)
	officerCLI(t, newDemoDB(t, "database:\n  driver: postgres\n  dsn: '"+dsn+"'\n"))
}

// officerCLI is the counter flow through the built binaries only:
// muhrd with the ra role, the officers from `muhr officer bootstrap`, and
// every step with the muhr officer commands.
func officerCLI(t *testing.T, d *demo) {
	admin := freeAddr(t)
	f, err := os.OpenFile(d.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("admin_listen: " + admin + "\nra:\n  enabled: true\n")
	f.Close()
	dir := filepath.Join(d.home, "officers")
	for name, roles := range map[string]string{"registrar1": "registrar", "registrar2": "registrar,approver", "auditor": "auditor"} {
		d.run(t, "officer", "bootstrap", "--config", d.cfg, "--name", name, "--roles", roles, "--out-dir", dir)
	}
	reg1, reg2, aud := filepath.Join(dir, "registrar1.yaml"), filepath.Join(dir, "registrar2.yaml"), filepath.Join(dir, "auditor.yaml")
	// The subscriber's card: a second token in the demo's SoftHSM2.
	secrets := filepath.Join(d.home, "secrets")
	os.WriteFile(filepath.Join(secrets, "card-so.pin"), []byte("card-so-8812\n"), 0o600)
	os.WriteFile(filepath.Join(secrets, "card.pin"), []byte("card-user-5521\n"), 0o600)
	d.run(t, "hsm", "init-token", "--module", testpki.SoftHSMModule(), "--label", "subscriber-card",
		"--so-pin-file", filepath.Join(secrets, "card-so.pin"), "--pin-file", filepath.Join(secrets, "card.pin"))

	m := d.serve(t)
	r := d.officerCLI(t, reg1, "subscriber", "register", "person", "--surname", "Раҳимов", "--given-name", "Ҷамшед", "--patronymic", "Ғафурович",
		"--personal-number", "123456789012", "--country", "TJ", "--evidence-type", "passport", "--evidence-number", "A1234567").want(t, 0, "register")
	if !strings.Contains(r.out, "Раҳимов") || !strings.Contains(r.out, "registrar1") {
		t.Errorf("register:\n%s", r.out)
	}
	var sub struct{ ID string }
	var found struct {
		Subscribers []struct{ ID string } `json:"subscribers"`
	}
	d.officerCLI(t, reg1, "subscriber", "search", "Ҷамшед", "-o", "json").want(t, 0, "search").json(t, &found)
	if len(found.Subscribers) != 1 {
		t.Fatalf("search: %+v", found)
	}
	sub.ID = found.Subscribers[0].ID

	key, csr := filepath.Join(d.home, "me.key"), filepath.Join(d.home, "me.csr")
	openssl(t, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj", "/CN=ignored", "-out", csr)
	var req struct{ ID, Status, Serial string }
	d.officerCLI(t, reg1, "request", "submit", "--subscriber", sub.ID, "--profile", "qes-person", "--csr", csr, "-o", "json").want(t, 0, "submit").json(t, &req)
	r = d.officerCLI(t, reg1, "request", "approve", req.ID).want(t, 1, "registrar1 approving")
	if !strings.Contains(r.errOut, "refused by the server") {
		t.Errorf("refusal: %s", r.errOut)
	}
	d.officerCLI(t, reg2, "request", "approve", req.ID, "-o", "json").want(t, 0, "approve").json(t, &req)
	if req.Status != "issued" || req.Serial == "" {
		t.Fatalf("approved %+v", req)
	}
	leaf := filepath.Join(d.home, "me.pem")
	d.officerCLI(t, reg1, "cert", "get", "serial="+strings.ToLower(req.Serial), "--out", leaf).want(t, 0, "cert get")
	d.verifyChain(t, []string{leaf})
	subject := strings.TrimSpace(openssl(t, "x509", "-in", leaf, "-noout", "-subject", "-nameopt", "utf8,sep_comma_plus"))
	if want := "subject=C=TJ,SN=Раҳимов,GN=Ҷамшед Ғафурович,serialNumber=PNOTJ-123456789012,CN=Раҳимов Ҷамшед Ғафурович"; subject != want {
		t.Errorf("subject %q\nwant    %q", subject, want)
	}
	if pol := openssl(t, "x509", "-in", leaf, "-noout", "-text"); strings.Contains(pol, "0.4.0.194112.1.2") || !strings.Contains(pol, "0.4.0.194112.1.0") {
		t.Errorf("a CSR from a file must get QCP-n only:\n%s", pol)
	}

	// Card enrolment → QCP-n-qscd; the key stays non-extractable on the card.
	var enr struct{ ID string }
	d.officerCLI(t, reg1, "token", "enroll", "--subscriber", sub.ID, "--profile", "qes-person", "--module", testpki.SoftHSMModule(),
		"--token", "subscriber-card", "--pin-file", filepath.Join(secrets, "card.pin"), "--key-label", "qes", "-o", "json").want(t, 0, "token enroll").json(t, &enr)
	var q struct {
		Serial string
		QSCD   bool
	}
	d.officerCLI(t, reg2, "request", "approve", enr.ID, "-o", "json").want(t, 0, "approve the card's request").json(t, &q)
	qleaf := filepath.Join(d.home, "card.pem")
	d.officerCLI(t, reg1, "cert", "get", q.Serial, "--out", qleaf).want(t, 0, "cert get (card)")
	d.verifyChain(t, []string{qleaf})
	if pol := openssl(t, "x509", "-in", qleaf, "-noout", "-text"); !q.QSCD || !strings.Contains(pol, "0.4.0.194112.1.2") {
		t.Errorf("card certificate is not QCP-n-qscd (qscd %t):\n%s", q.QSCD, pol)
	}
	keys := d.run(t, "hsm", "keys", "--module", testpki.SoftHSMModule(), "--label", "subscriber-card", "--pin-file", filepath.Join(secrets, "card.pin"))
	if !strings.Contains(keys, "qes") {
		t.Errorf("hsm keys on the card:\n%s", keys)
	}

	// Suspend, resume, revoke; the auditor reads and verifies the log.
	if r := d.officerCLI(t, reg1, "cert", "suspend", q.Serial).want(t, 0, "suspend"); !strings.Contains(r.out, "suspended") {
		t.Errorf("suspend:\n%s", r.out)
	}
	d.officerCLI(t, reg1, "cert", "resume", q.Serial).want(t, 0, "resume")
	batch := filepath.Join(d.home, "revoke.csv")
	os.WriteFile(batch, []byte("serial,reason\n"+req.Serial+",keyCompromise\n"+q.Serial+",superseded\nZZ,superseded\n"), 0o600)
	r = d.officerCLI(t, reg1, "cert", "revoke", "--batch", batch).want(t, 2, "batch with a bad line")
	if !strings.Contains(r.out, "2 revoked, 1 failed") {
		t.Errorf("batch report:\n%s", r.out)
	}
	var c struct{ Status string }
	d.officerCLI(t, reg1, "cert", "get", q.Serial, "-o", "json").want(t, 0, "get revoked").json(t, &c)
	if c.Status != "revoked" {
		t.Errorf("after revoke: %s", c.Status)
	}
	if r := d.officerCLI(t, aud, "audit", "list", "--since", "1h").want(t, 0, "audit list"); !strings.Contains(r.out, "officer:registrar2") {
		t.Errorf("audit list lacks registrar2:\n%s", r.out)
	}
	d.officerCLI(t, aud, "audit", "verify").want(t, 0, "audit verify through the API")
	d.officerCLI(t, aud, "request", "approve", req.ID).want(t, 1, "auditor approving")
	m.stop(t)
	m.noPanic(t)
	r = d.officerCLI(t, reg1, "request", "list").want(t, 3, "server down")
	if !strings.Contains(r.errOut, "unreachable") {
		t.Errorf("server down: %s", r.errOut)
	}
}
