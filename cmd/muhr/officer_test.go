package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/raclient"
	"github.com/muhr-pki/muhr/raclient/ratest"
)

// officerRunResult is one in-process run of muhr.
type officerRunResult struct {
	out, errOut string
	code        int
}

// muhrRun runs the command line in-process with the exit code main would use.
func muhrRun(t *testing.T, args ...string) officerRunResult {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	r := officerRunResult{out: out.String(), errOut: errOut.String()}
	if err != nil {
		var msg string
		r.code, msg = exitFor(err)
		r.errOut += msg + "\n"
	}
	return r
}

func (r officerRunResult) must(t *testing.T, code int, what string) officerRunResult {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what, r.code, code, r.out, r.errOut)
	}
	return r
}

func jsonOf(t *testing.T, r officerRunResult, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.out), v); err != nil {
		t.Fatalf("-o json output is not JSON: %v\n%s", err, r.out)
	}
}

// opensslCSR makes a CSR the way an applicant would, with openssl.
func opensslCSR(t *testing.T, dir, name string, extra ...string) string {
	t.Helper()
	bin := testpki.Tool(t, "openssl")
	key, csr := filepath.Join(dir, name+".key"), filepath.Join(dir, name+".csr")
	args := append([]string{"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=applicant"}, extra...)
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	return csr
}

func registerPerson(t *testing.T, cfg string) string {
	t.Helper()
	r := muhrRun(t, "subscriber", "register", "person", "--config", cfg, "-o", "json", "--surname", "Раҳимов", "--given-name", "Фирӯз",
		"--patronymic", "Алиевич", "--personal-number", "123456789", "--country", "tj", "--evidence-type", "passport", "--evidence-number", "A1234567").must(t, 0, "register")
	var s raclient.Subscriber
	jsonOf(t, r, &s)
	if s.ID == "" || s.Person.Surname != "Раҳимов" || s.Person.Country != "TJ" || s.Evidence[0].Number != "A1234567" {
		t.Fatalf("registered %+v", s)
	}
	return s.ID
}

func TestOfficerFlow(t *testing.T) {
	srv := ratest.New(t)
	reg1 := srv.AddOfficer(t, "registrar1", "registrar").Config
	reg2 := srv.AddOfficer(t, "registrar2", "registrar", "approver").Config
	dir := t.TempDir()

	table := muhrRun(t, "subscriber", "register", "person", "--config", reg1, "--surname", "Қодирова", "--given-name", "Нигина",
		"--personal-number", "987654321", "--country", "TJ").must(t, 0, "register (table)")
	for _, want := range []string{"surname:", "Қодирова", "Нигина", "registered by:          registrar1\n"} {
		if !strings.Contains(table.out, want) {
			t.Errorf("register table lacks %q:\n%s", want, table.out)
		}
	}
	sub := registerPerson(t, reg1)
	show := muhrRun(t, "subscriber", "show", sub, "--config", reg1).must(t, 0, "show")
	if !strings.Contains(show.out, "Раҳимов") || !strings.Contains(show.out, "passport A1234567") {
		t.Errorf("show:\n%s", show.out)
	}
	search := muhrRun(t, "subscriber", "search", "Раҳим", "--config", reg1).must(t, 0, "search")
	if !strings.Contains(search.out, "Раҳимов Фирӯз Алиевич") || strings.Contains(search.out, "Қодирова") {
		t.Errorf("search:\n%s", search.out)
	}
	muhrRun(t, "subscriber", "search", "'; DROP TABLE certificates; --", "--config", reg1).must(t, 0, "search SQL text")

	csr := opensslCSR(t, dir, "applicant")
	var req raclient.Request
	jsonOf(t, muhrRun(t, "request", "submit", "--config", reg1, "-o", "json", "--subscriber", sub, "--profile", "qes-person", "--csr", csr).must(t, 0, "submit"), &req)
	if req.ID == "" || req.Status != "pending" || req.QSCD {
		t.Fatalf("submitted %+v", req)
	}
	list := muhrRun(t, "request", "list", "--status", "pending", "--config", reg2).must(t, 0, "list")
	if !strings.Contains(list.out, req.ID) || !strings.Contains(list.out, "pending") || !strings.HasPrefix(list.out, "ID ") {
		t.Errorf("list:\n%s", list.out)
	}
	// registrar1 holds no approver role; the server's reason is printed.
	own := muhrRun(t, "request", "approve", req.ID, "--config", reg1).must(t, 1, "approve without the role")
	if !strings.Contains(own.errOut, "needs role approver") {
		t.Errorf("refusal without the server's reason:\n%s", own.errOut)
	}
	appr := muhrRun(t, "request", "approve", req.ID, "--config", reg2, "-o", "json").must(t, 0, "approve")
	var done raclient.Request
	jsonOf(t, appr, &done)
	if done.Status != "issued" || done.Serial == "" || !strings.Contains(done.Certificate, "BEGIN CERTIFICATE") {
		t.Fatalf("approved %+v", done)
	}
	if !strings.Contains(appr.errOut, "issuing") {
		t.Errorf("no progress on stderr: %q", appr.errOut)
	}
	again := muhrRun(t, "request", "approve", req.ID, "--config", reg2).must(t, 1, "approve twice")
	if !strings.Contains(again.errOut, "issued") {
		t.Errorf("second approval does not name the state:\n%s", again.errOut)
	}

	// cert get accepts the serial as openssl prints it, in any case, with zeros.
	pemOut := muhrRun(t, "cert", "get", "serial=00"+strings.ToLower(done.Serial), "--config", reg1).must(t, 0, "cert get")
	if pemOut.out != done.Certificate {
		t.Fatalf("cert get printed:\n%s", pemOut.out)
	}
	derFile := filepath.Join(dir, "cert.der")
	got := muhrRun(t, "cert", "get", done.Serial, "--der", "--out", derFile, "--config", reg1).must(t, 0, "cert get --der")
	if !strings.Contains(got.out, "written to "+derFile) {
		t.Errorf("cert get --out:\n%s", got.out)
	}
	sslSerial, err := exec.Command(testpki.Tool(t, "openssl"), "x509", "-inform", "DER", "-in", derFile, "-noout", "-serial").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(sslSerial)) != "serial="+done.Serial {
		t.Errorf("openssl says %q, muhr says %s", sslSerial, done.Serial)
	}
	// ...and the serial openssl printed is accepted verbatim.
	muhrRun(t, "cert", "get", strings.TrimSpace(string(sslSerial)), "--config", reg1, "-o", "json").must(t, 0, "cert get by openssl's serial")

	cl := muhrRun(t, "cert", "list", "--subscriber", sub, "--config", reg1).must(t, 0, "cert list")
	if !strings.Contains(cl.out, done.Serial) || !strings.Contains(cl.out, "good") {
		t.Errorf("cert list:\n%s", cl.out)
	}
	sus := muhrRun(t, "cert", "suspend", done.Serial, "--config", reg1).must(t, 0, "suspend")
	if !strings.Contains(sus.out, "suspended") {
		t.Errorf("suspend:\n%s", sus.out)
	}
	var c raclient.Certificate
	jsonOf(t, muhrRun(t, "cert", "resume", done.Serial, "--config", reg1, "-o", "json").must(t, 0, "resume"), &c)
	if c.Status != "good" || c.Serial != done.Serial {
		t.Errorf("resume: %+v", c)
	}
	rev := muhrRun(t, "cert", "revoke", done.Serial, "--reason", "keyCompromise", "--compromise-time", "2026-01-02 10:00", "--config", reg1).must(t, 0, "revoke")
	if !strings.Contains(rev.out, "revoked") || !strings.Contains(rev.out, "2026-01-02T10:00:00Z") {
		t.Errorf("revoke:\n%s", rev.out)
	}
	muhrRun(t, "cert", "revoke", done.Serial, "--reason", "keyCompromise", "--config", reg1).must(t, 1, "revoke twice")

	// reject, renew
	csr2 := opensslCSR(t, dir, "second")
	var r2 raclient.Request
	jsonOf(t, muhrRun(t, "request", "renew", done.Serial, "--csr", csr2, "--config", reg1, "-o", "json").must(t, 0, "renew"), &r2)
	if r2.Kind != "renew" || r2.SubscriberID != sub || r2.Profile != "qes-person" {
		t.Errorf("renew: %+v", r2)
	}
	muhrRun(t, "request", "reject", r2.ID, "--config", reg2).must(t, 2, "reject without a reason")
	rj := muhrRun(t, "request", "reject", r2.ID, "--reason", "паспорт мӯҳлаташ гузаштааст", "--config", reg2).must(t, 0, "reject")
	if !strings.Contains(rj.out, "rejected") || !strings.Contains(rj.out, "паспорт мӯҳлаташ гузаштааст") {
		t.Errorf("reject:\n%s", rj.out)
	}
	sh := muhrRun(t, "request", "show", r2.ID, "--config", reg1, "-o", "json").must(t, 0, "request show")
	var r2b map[string]any
	jsonOf(t, sh, &r2b)
	if r2b["id"] != r2.ID || r2b["status"] != "rejected" {
		t.Errorf("request show json: %v", r2b)
	}
}

func TestOfficerExitCodes(t *testing.T) {
	srv := ratest.New(t)
	reg := srv.AddOfficer(t, "registrar1", "registrar")
	dir := t.TempDir()

	muhrRun(t, "request", "list", "--no-such-flag", "--config", reg.Config).must(t, 2, "unknown flag")
	muhrRun(t, "request", "show", "--config", reg.Config).must(t, 2, "missing ID")
	muhrRun(t, "request", "submit", "--config", reg.Config, "--profile", "qes-person").must(t, 2, "missing --subscriber")
	muhrRun(t, "request", "submit", "--config", reg.Config, "--subscriber", "s-1", "--profile", "qes-person", "--csr", filepath.Join(dir, "none.csr")).must(t, 2, "unreadable CSR")
	muhrRun(t, "request", "submit", "--config", reg.Config, "--subscriber", "s-1", "--profile", "gold", "--csr", "x").must(t, 2, "bad profile")
	muhrRun(t, "cert", "get", "xyz", "--config", reg.Config).must(t, 2, "bad serial")
	muhrRun(t, "cert", "revoke", "0A", "--reason", "bored", "--config", reg.Config).must(t, 2, "bad reason")
	muhrRun(t, "request", "list", "-o", "yaml", "--config", reg.Config).must(t, 2, "bad -o")
	muhrRun(t, "request", "list", "--config", filepath.Join(dir, "none.yaml")).must(t, 2, "missing config")
	r := muhrRun(t, "cert", "get", "0A0B", "--config", reg.Config).must(t, 1, "unknown serial")
	if !strings.Contains(r.errOut, "no certificate with serial 0A0B") {
		t.Errorf("refusal message: %s", r.errOut)
	}
	r = muhrRun(t, "subscriber", "register", "person", "--config", reg.Config, "--surname", "A", "--given-name", "B", "--personal-number", "12x", "--country", "TJ").must(t, 1, "bad personal number")
	if !strings.Contains(r.errOut, "personal_number") {
		t.Errorf("refusal without the field: %s", r.errOut)
	}

	// The SHA-1 CSR is refused here, saying what the applicant must do.
	sha1 := opensslCSR(t, dir, "old", "-sha1")
	r = muhrRun(t, "request", "submit", "--config", reg.Config, "--subscriber", "s-1", "--profile", "qes-person", "--csr", sha1).must(t, 2, "SHA-1 CSR")
	if !strings.Contains(r.errOut, "signed with SHA-1") || !strings.Contains(r.errOut, "regenerate it with SHA-256") {
		t.Errorf("SHA-1 message: %s", r.errOut)
	}
	notCSR := filepath.Join(dir, "photo.jpg")
	os.WriteFile(notCSR, []byte("\xff\xd8\xff\xe0 not a csr"), 0o644)
	r = muhrRun(t, "request", "submit", "--config", reg.Config, "--subscriber", "s-1", "--profile", "qes-person", "--csr", notCSR).must(t, 2, "not a CSR")
	if !strings.Contains(r.errOut, "not a PKCS#10 CSR") {
		t.Errorf("not-a-CSR message: %s", r.errOut)
	}

	// Server down: exit 3.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	b, _ := os.ReadFile(reg.Config)
	down := filepath.Join(dir, "down.yaml")
	os.WriteFile(down, []byte(strings.Replace(string(b), srv.URL, "https://"+addr, 1)), 0o600)
	r = muhrRun(t, "request", "list", "--config", down).must(t, 3, "server down")
	if !strings.Contains(r.errOut, "unreachable") {
		t.Errorf("server down message: %s", r.errOut)
	}
}

func TestOfficerConfigDiscovery(t *testing.T) {
	srv := ratest.New(t)
	a := srv.AddOfficer(t, "officer-flag", "registrar")
	b := srv.AddOfficer(t, "officer-env", "registrar")
	c := srv.AddOfficer(t, "officer-home", "registrar")
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".config", "muhr"), 0o700)
	body, _ := os.ReadFile(c.Config)
	os.WriteFile(filepath.Join(home, ".config", "muhr", "config.yaml"), body, 0o600)
	t.Setenv("HOME", home)
	who := func(args ...string) string {
		t.Helper()
		args = append([]string{"subscriber", "register", "person", "-o", "json", "--surname", "A", "--given-name", "B", "--personal-number", "111222333", "--country", "TJ"}, args...)
		var s raclient.Subscriber
		jsonOf(t, muhrRun(t, args...).must(t, 0, "register"), &s)
		return s.CreatedBy
	}
	t.Setenv("MUHR_CONFIG", b.Config)
	if got := who("--config", a.Config); got != "officer-flag" {
		t.Errorf("--config: acted as %s", got)
	}
	if got := who(); got != "officer-env" {
		t.Errorf("$MUHR_CONFIG: acted as %s", got)
	}
	t.Setenv("MUHR_CONFIG", "")
	if got := who(); got != "officer-home" {
		t.Errorf("~/.config/muhr/config.yaml: acted as %s", got)
	}
	// A typo in the config is an error naming it.
	bad := filepath.Join(home, "typo.yaml")
	os.WriteFile(bad, append(body, []byte("sevrer: x\n")...), 0o600)
	r := muhrRun(t, "request", "list", "--config", bad).must(t, 2, "unknown key")
	if !strings.Contains(r.errOut, "sevrer") {
		t.Errorf("unknown key not named: %s", r.errOut)
	}
}

func TestOfficerBatchRevoke(t *testing.T) {
	srv := ratest.New(t)
	reg := srv.AddOfficer(t, "registrar1", "registrar").Config
	appr := srv.AddOfficer(t, "approver1", "approver").Config
	dir := t.TempDir()
	sub := registerPerson(t, reg)
	var serials []string
	for i := range 2 {
		var req raclient.Request
		jsonOf(t, muhrRun(t, "request", "submit", "--config", reg, "-o", "json", "--subscriber", sub, "--profile", "qes-person", "--csr", opensslCSR(t, dir, fmt.Sprint("k", i))).must(t, 0, "submit"), &req)
		jsonOf(t, muhrRun(t, "request", "approve", req.ID, "--config", appr, "-o", "json").must(t, 0, "approve"), &req)
		serials = append(serials, req.Serial)
	}
	batch := filepath.Join(dir, "batch.csv")
	os.WriteFile(batch, []byte("serial,reason\n"+
		"serial="+strings.ToLower(serials[0])+",keyCompromise,2026-01-01T00:00:00Z\n"+
		"# a comment\n"+
		"nothex,superseded\n"+
		serials[1]+",bored\n"+
		"0A0B0C,cessationOfOperation\n"+
		serials[1]+",superseded\n"), 0o600)
	r := muhrRun(t, "cert", "revoke", "--batch", batch, "--config", reg).must(t, 1, "batch with failures")
	for _, want := range []string{serials[0] + "  keyCompromise", "revoked", "not hexadecimal", "reason \"bored\"", "no certificate with serial 0A0B0C", "2 revoked, 3 failed"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("report lacks %q:\n%s", want, r.out)
		}
	}
	if !strings.Contains(r.errOut, "[2/3] revoking") {
		t.Errorf("no progress: %s", r.errOut)
	}
	// All lines already revoked now: each fails on its own; JSON report.
	os.WriteFile(batch, []byte(serials[0]+",superseded\n"), 0o600)
	r = muhrRun(t, "cert", "revoke", "--batch", batch, "--config", reg, "-o", "json").must(t, 1, "batch again")
	var rep struct {
		Results []map[string]any `json:"results"`
		Revoked int              `json:"revoked"`
		Failed  int              `json:"failed"`
	}
	jsonOf(t, r, &rep)
	if rep.Failed != 1 || rep.Results[0]["status"] != "failed" || !strings.Contains(fmt.Sprint(rep.Results[0]["error"]), "already revoked") {
		t.Errorf("json report: %+v", rep)
	}
	muhrRun(t, "cert", "revoke", "--batch", batch, "0A", "--config", reg).must(t, 2, "batch with a serial")
}

func TestOfficerAdminAndAudit(t *testing.T) {
	srv := ratest.New(t)
	admin := srv.AddOfficer(t, "admin", "admin").Config
	aud := srv.AddOfficer(t, "auditor", "auditor").Config
	dir := t.TempDir()
	out := filepath.Join(dir, "officers")
	r := muhrRun(t, "officer", "add", "--name", "registrar3", "--roles", "registrar,approver", "--out-dir", out, "--config", admin).must(t, 0, "officer add")
	if !strings.Contains(r.out, "registrar,approver") {
		t.Errorf("officer add:\n%s", r.out)
	}
	// The written config works at once, and the key file is owner-only.
	if fi, err := os.Stat(filepath.Join(out, "registrar3.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	reg3 := filepath.Join(out, "registrar3.yaml")
	registerPerson(t, reg3)
	muhrRun(t, "officer", "add", "--name", "x", "--roles", "boss", "--out-dir", out, "--config", admin).must(t, 2, "bad role")
	csr := opensslCSR(t, dir, "card")
	r = muhrRun(t, "officer", "add", "--name", "registrar4", "--roles", "registrar", "--csr", csr, "--config", admin, "-o", "json").must(t, 0, "officer add --csr")
	var o raclient.Officer
	jsonOf(t, r, &o)
	if blk, _ := pem.Decode([]byte(o.Certificate)); blk == nil {
		t.Fatalf("no certificate: %+v", o)
	} else if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		t.Fatal(err)
	}
	l := muhrRun(t, "officer", "list", "--config", admin).must(t, 0, "officer list")
	if !strings.Contains(l.out, "registrar3") || !strings.Contains(l.out, "registrar4") {
		t.Errorf("officer list:\n%s", l.out)
	}
	var list struct{ Officers []raclient.Officer }
	jsonOf(t, muhrRun(t, "officer", "list", "--config", admin, "-o", "json").must(t, 0, "list json"), &list)
	var id string
	for _, x := range list.Officers {
		if x.Name == "registrar3" {
			id = x.ID
		}
	}
	muhrRun(t, "officer", "deactivate", id, "--config", admin).must(t, 0, "deactivate")
	r = muhrRun(t, "request", "list", "--config", reg3).must(t, 1, "deactivated officer")
	if !strings.Contains(r.errOut, "not an active officer") {
		t.Errorf("deactivated: %s", r.errOut)
	}
	muhrRun(t, "officer", "list", "--config", aud).must(t, 1, "auditor listing officers")

	// audit list pages through everything (the fake serves 2 per page).
	var recs struct{ Records []raclient.AuditRecord }
	jsonOf(t, muhrRun(t, "audit", "list", "--config", aud, "-o", "json").must(t, 0, "audit list"), &recs)
	if len(recs.Records) < 8 || recs.Records[0].Seq != 1 || recs.Records[len(recs.Records)-1].Seq != int64(len(recs.Records)) {
		t.Errorf("audit list: %d records %+v", len(recs.Records), recs.Records)
	}
	tl := muhrRun(t, "audit", "list", "--config", aud, "--limit", "3").must(t, 0, "audit list table")
	if n := strings.Count(tl.out, "\n"); n != 4 {
		t.Errorf("audit list --limit 3: %d lines\n%s", n, tl.out)
	}
	// audit verify with an officer config goes through the API.
	v := muhrRun(t, "audit", "verify", "--config", aud).must(t, 0, "audit verify (API)")
	if !strings.Contains(v.out, "audit chain OK") || !strings.Contains(v.out, "1 checkpoints") {
		t.Errorf("audit verify:\n%s", v.out)
	}
	t.Setenv("MUHR_CONFIG", aud)
	muhrRun(t, "audit", "verify", "-o", "json").must(t, 0, "audit verify without --config")
}

func TestTableWidth(t *testing.T) {
	var tb table
	tb.add("NAME", "X")
	tb.add("Фирӯз", "1")
	tb.add("Фиру\u0304з", "2") // the same with a combining macron
	tb.add("山田", "3")
	var b bytes.Buffer
	tb.write(&b)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	for _, l := range lines {
		if w := displayWidth(l); w != displayWidth(lines[0]) {
			t.Errorf("%q is %d columns wide, header %d", l, w, displayWidth(lines[0]))
		}
	}
	if displayWidth("Фиру\u0304з") != 5 || displayWidth("山田") != 4 {
		t.Error("displayWidth")
	}
}

func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		r := muhrRun(t, "completion", sh).must(t, 0, "completion "+sh)
		if !strings.Contains(r.out, "muhr") {
			t.Errorf("completion %s: %.100s", sh, r.out)
		}
	}
}

func TestDevIssueQSCDRefused(t *testing.T) {
	dir := t.TempDir()
	csr := opensslCSR(t, dir, "x")
	id := filepath.Join(dir, "id.json")
	os.WriteFile(id, []byte(`{"kind":"person"}`), 0o600)
	_, err := run(t, "dev", "issue", "--config", filepath.Join(dir, "none.yaml"), "--profile", "qes-person", "--csr", csr, "--identity", id, "--qscd")
	if err == nil || !strings.Contains(err.Error(), "muhr token enroll") {
		t.Fatalf("dev issue --qscd: %v", err)
	}
	if code, _ := exitFor(err); code != exitInvalid {
		t.Errorf("exit %d", code)
	}
}

// `audit verify` with no officer config anywhere and a muhrd.yaml in the
// working directory stays the local check, as before officers existed.
func TestAuditVerifyDispatch(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("MUHR_CONFIG", "")
	t.Chdir(dir)
	os.WriteFile("muhrd.yaml", []byte("database:\n  driver: nosuchdb\n"), 0o600)
	r := muhrRun(t, "audit", "verify")
	if r.code == 0 || strings.Contains(r.errOut, "officer config") {
		t.Fatalf("local verify expected: exit %d\n%s", r.code, r.errOut)
	}
	os.Remove("muhrd.yaml")
	r = muhrRun(t, "audit", "verify").must(t, 2, "no config at all")
	if !strings.Contains(r.errOut, "officer config") || !strings.Contains(r.errOut, "muhrd.yaml") {
		t.Fatalf("no config: %s", r.errOut)
	}
}
