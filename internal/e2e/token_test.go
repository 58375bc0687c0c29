package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/hsm/softhsm"
	"github.com/muhr-pki/muhr/internal/testpki"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binaries.dir != "" {
		os.RemoveAll(binaries.dir)
	}
	os.Exit(code)
}

// binaries builds muhr and muhrd once for the package's tests.
var binaries struct {
	once sync.Once
	dir  string
	err  error
}

func buildBinaries(t *testing.T) (muhr, muhrd string) {
	t.Helper()
	binaries.once.Do(func() {
		dir, err := os.MkdirTemp("", "muhr-e2e-bin-")
		if err != nil {
			binaries.err = err
			return
		}
		root, _ := filepath.Abs("../..")
		cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/muhr", "./cmd/muhrd")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			binaries.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
		binaries.dir = dir
	})
	if binaries.err != nil {
		t.Fatal(binaries.err)
	}
	return filepath.Join(binaries.dir, "muhr"), filepath.Join(binaries.dir, "muhrd")
}

// demo is a center like the quickstart's, made with the built binaries.
type demo struct {
	home, cfg, addr string
	ops             string // operations listener
	tokens          string // SoftHSM2 directories.tokendir
	muhr, muhrd     string
	env             []string
}

// sqliteDB is the quickstart's database stanza.
const sqliteDB = "database:\n  driver: sqlite\n  path: muhr.db\n"

func newDemo(t *testing.T) *demo {
	t.Helper()
	return newDemoDB(t, sqliteDB)
}

// newDemoDB is newDemo with another database: stanza of muhrd.yaml.
func newDemoDB(t *testing.T, database string) *demo {
	t.Helper()
	testpki.Tool(t, "openssl")
	module := testpki.SoftHSMModule()
	if module == "" {
		testpki.Missing(t, "SoftHSM2 library not found")
	}
	muhr, muhrd := buildBinaries(t)
	home := t.TempDir()
	d := &demo{home: home, cfg: filepath.Join(home, "muhrd.yaml"), addr: freeAddr(t),
		ops: freeAddr(t), tokens: filepath.Join(home, "softhsm", "tokens"), muhr: muhr, muhrd: muhrd}
	conf := filepath.Join(home, "softhsm2.conf")
	d.env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	for _, p := range []string{d.tokens, filepath.Join(home, "secrets")} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(conf, []byte("directories.tokendir = "+d.tokens+"\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"), 0o600)
	os.WriteFile(filepath.Join(home, "secrets", "so.pin"), []byte("so-"+fmt.Sprint(rand.Uint64())+"\n"), 0o600)
	os.WriteFile(filepath.Join(home, "secrets", "user.pin"), []byte("user-"+fmt.Sprint(rand.Uint64())+"\n"), 0o600)
	d.run(t, "hsm", "init-token", "--module", module, "--label", "muhr-demo",
		"--so-pin-file", filepath.Join(home, "secrets", "so.pin"), "--pin-file", filepath.Join(home, "secrets", "user.pin"))
	// The operations listener gets a free port too: its default
	// (127.0.0.1:9090) may be taken by a quickstart running on the machine.
	yaml := "listen: " + d.addr + "\nops_listen: " + d.ops + "\npublic_url: http://" + d.addr + "\nlog:\n  level: warn\n" +
		database +
		"hsm:\n  module: " + module + "\n  token_label: muhr-demo\n  pin_file: secrets/user.pin\n  sessions: 4\n  softhsm2_conf: softhsm2.conf\n" +
		"tsa:\n  enabled: true\n  signer_ca: qca-demo\n  require_sync: false\n" +
		"issuance:\n  policy_oid: 1.3.6.1.4.1.59999.1.1\n  pds:\n    - {url: https://muhr.example.tj/pds/en.pdf, language: en}\n"
	os.WriteFile(d.cfg, []byte(yaml), 0o600)
	plan, err := os.ReadFile("../../configs/ceremony-demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(home, "ceremony.yaml"), plan, 0o600)
	d.run(t, "db", "migrate", "--config", d.cfg)
	out := d.run(t, "ceremony", "run", "--config", filepath.Join(home, "ceremony.yaml"), "--ca-dir", filepath.Join(home, "ca"))
	if !strings.Contains(out, "backed up token") {
		t.Fatalf("ceremony made no backup:\n%s", out)
	}
	return d
}

func (d *demo) command(args ...string) *exec.Cmd {
	cmd := exec.Command(d.muhr, args...)
	cmd.Env = d.env
	cmd.Dir = d.home
	return cmd
}

func (d *demo) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := d.command(args...).CombinedOutput()
	if err != nil {
		t.Fatalf("muhr %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startMuhrd starts the daemon; stop it with the returned function.
func (d *demo) startMuhrd(t *testing.T) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(d.muhrd, "--config", d.cfg)
	cmd.Env, cmd.Dir = d.env, d.home
	out := newSyncBuffer()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out
}

func (d *demo) healthz() (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + d.addr + "/healthz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// timestamp asks muhrd's TSA for a token and checks it with openssl.
func (d *demo) timestamp(t *testing.T) error {
	t.Helper()
	dir := t.TempDir()
	data, tsq, tsr := filepath.Join(dir, "d"), filepath.Join(dir, "q.tsq"), filepath.Join(dir, "r.tsr")
	os.WriteFile(data, []byte("document "+time.Now().String()), 0o600)
	openssl(t, "ts", "-query", "-data", data, "-sha256", "-cert", "-out", tsq)
	q, _ := os.ReadFile(tsq)
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post("http://"+d.addr+"/tsa", "application/timestamp-query", bytes.NewReader(q))
	if err != nil {
		return err
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /tsa: %d %s", resp.StatusCode, reply)
	}
	os.WriteFile(tsr, reply, 0o600)
	v, err := exec.Command(testpki.Tool(t, "openssl"), "ts", "-verify", "-data", data, "-in", tsr,
		"-CAfile", filepath.Join(d.home, "ca", "root-demo.pem")).CombinedOutput()
	if err != nil || !strings.Contains(string(v), "Verification: OK") {
		return fmt.Errorf("timestamp does not verify: %v %s", err, v)
	}
	return nil
}

// checkIntact asserts the token survived: its token.object parses, every
// key is listed, muhrd starts and is healthy, the TSA key signs, and the
// qualified CA's key issues a certificate that verifies to the root.
func (d *demo) checkIntact(t *testing.T) {
	t.Helper()
	es, err := softhsm.Scan(d.tokens)
	if err != nil || len(es) != 1 {
		t.Fatalf("token files after the kills: %+v %v", es, err)
	}
	// A kill inside SoftHSM's own rewrite of token.object at login (which
	// holds Muhr's token lock) can still leave it empty: nothing in Muhr
	// can make SoftHSM's write atomic. What must hold is that Muhr's
	// verified copy is good and the next muhr command puts it back by
	// itself, with no restore by hand.
	damaged, problem := es[0].Problem != nil, es[0].Problem
	if damaged && es[0].Good.Label != "muhr-demo" {
		t.Fatalf("token.object damaged by the kills and no good copy to repair it: %+v", es)
	}
	if !damaged && es[0].Token.Label != "muhr-demo" {
		t.Fatalf("token files after the kills: %+v", es)
	}
	keys := d.run(t, "hsm", "keys", "--config", d.cfg)
	if damaged {
		if !strings.Contains(keys, "restored SoftHSM2 token.object") {
			t.Fatalf("token.object was damaged (%v) and muhr hsm keys did not say it restored it:\n%s", problem, keys)
		}
		es, err := softhsm.Scan(d.tokens)
		if err != nil || len(es) != 1 || es[0].Problem != nil || es[0].Token.Label != "muhr-demo" {
			t.Fatalf("token files after the repair: %+v %v", es, err)
		}
		t.Logf("the last kill left token.object damaged (%v); the next muhr command restored it", problem)
	}
	for _, k := range []string{"root-demo", "qca-demo", "qca-demo-ocsp", "mgmt-demo", "tsa-demo"} {
		if !strings.Contains(keys, k+" ") {
			t.Fatalf("key %s missing:\n%s", k, keys)
		}
	}
	cmd, out := d.startMuhrd(t)
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _ := d.healthz(); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("muhrd not healthy after the kills:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := d.timestamp(t); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, csr, leaf, id := filepath.Join(dir, "k"), filepath.Join(dir, "c"), filepath.Join(dir, "l.pem"), filepath.Join(dir, "id.json")
	os.WriteFile(id, []byte(`{"kind":"person","surname":"Раҳимов","given_name":"Ҷамшед","patronymic":"Ғафурович","personal_number":"123456789012","country":"TJ"}`), 0o600)
	openssl(t, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj", "/CN=x", "-out", csr)
	d.run(t, "dev", "issue", "--config", d.cfg, "--profile", "qes-person", "--csr", csr, "--identity", id, "--out", leaf)
	openssl(t, "verify", "-CAfile", filepath.Join(d.home, "ca", "root-demo.pem"), "-untrusted", filepath.Join(d.home, "ca", "qca-demo.pem"), leaf)
}

// killAfter starts cmd, SIGKILLs it after delay and reports whether the
// kill hit it while running (a command that had already exited is not a
// kill).
func killAfter(cmd *exec.Cmd, delay time.Duration) (killed bool, err error) {
	if err := cmd.Start(); err != nil {
		return false, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return false, err
	case <-time.After(delay):
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	err = <-done
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true, nil
		}
	}
	return false, err
}

// SoftHSM2 rewrites token.object in place at every login; kill -9 of muhr
// commands and of a starting muhrd at random moments, several at once,
// must never cost the keys, and muhr commands running beside them must
// never fail to find the token.
func TestTokenSurvivesKill9(t *testing.T) {
	d := newDemo(t)
	// How long one `muhr hsm keys` takes under this load, measured by the
	// witnesses as they go: kills land anywhere in such a run.
	start := time.Now()
	d.run(t, "hsm", "keys", "--config", d.cfg)
	var span atomic.Int64
	span.Store(int64(time.Since(start)))

	const kills, parallel = 300, 4
	var killed, attempts atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var failures []string
	var mu sync.Mutex
	// Witnesses: unkilled commands at the same time must all succeed.
	var witnessed atomic.Int64
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				began := time.Now()
				out, err := d.command("hsm", "keys", "--config", d.cfg).CombinedOutput()
				witnessed.Add(1)
				if err == nil {
					// 1.2 times a moving average of the run time.
					took := int64(time.Since(began)) * 6 / 5
					span.Store((span.Load()*3 + took) / 4)
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%v: %s", err, out))
					mu.Unlock()
				}
			}
		})
	}
	var killers sync.WaitGroup
	for range parallel {
		killers.Go(func() {
			for killed.Load() < kills && attempts.Load() < 6*kills {
				attempts.Add(1)
				delay := time.Duration(rand.Int64N(span.Load()))
				k, err := killAfter(d.command("hsm", "keys", "--config", d.cfg), delay)
				if k {
					killed.Add(1)
				} else if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("unkilled muhr hsm keys: %v", err))
					mu.Unlock()
				}
			}
		})
	}
	killers.Wait()
	close(stop)
	wg.Wait()
	t.Logf("%d of %d muhr commands killed while running (span %v); %d witness runs", killed.Load(), attempts.Load(), time.Duration(span.Load()), witnessed.Load())
	if killed.Load() < kills {
		t.Fatalf("only %d kills landed", killed.Load())
	}
	seen := map[string]int{}
	for _, f := range failures {
		if len(f) > 300 {
			f = f[:300]
		}
		seen[f]++
	}
	for f, n := range seen {
		t.Logf("%d x %s", n, f)
	}
	es, _ := softhsm.Scan(d.tokens)
	t.Logf("token state: %+v", es)
	if len(failures) > 0 {
		t.Fatalf("%d muhr commands beside the kills failed; first: %s", len(failures), failures[0])
	}

	// A starting muhrd: it logs in, migrates, loads its CAs and keys.
	cmd, out := d.startMuhrd(t)
	start = time.Now()
	for code, _ := d.healthz(); code != http.StatusOK; code, _ = d.healthz() {
		if time.Since(start) > time.Minute {
			t.Fatalf("muhrd did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	startup := time.Since(start)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	daemonKills := 0
	for i := 0; daemonKills < 30 && i < 120; i++ {
		cmd := exec.Command(d.muhrd, "--config", d.cfg)
		cmd.Env, cmd.Dir = d.env, d.home
		k, _ := killAfter(cmd, time.Duration(rand.Int64N(int64(startup))))
		if k {
			daemonKills++
		}
	}
	t.Logf("%d starting muhrd killed (start-up %v)", daemonKills, startup)
	if daemonKills < 30 {
		t.Fatalf("only %d muhrd kills landed", daemonKills)
	}
	d.checkIntact(t)
}

// The token directory disappears under a running muhrd: /healthz says so
// within 10 s. It comes back: /healthz is ok and the TSA signs again within
// 60 s, with no restart.
func TestHealthzFollowsTheToken(t *testing.T) {
	d := newDemo(t)
	cmd, out := d.startMuhrd(t)
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for code, _ := d.healthz(); code != http.StatusOK; code, _ = d.healthz() {
		if time.Now().After(deadline) {
			t.Fatalf("muhrd not healthy:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := d.timestamp(t); err != nil {
		t.Fatal(err)
	}
	away := d.tokens + ".away"
	if err := os.Rename(d.tokens, away); err != nil {
		t.Fatal(err)
	}
	gone := time.Now()
	var body string
	for code := http.StatusOK; code == http.StatusOK; {
		if time.Since(gone) > 10*time.Second {
			os.Rename(away, d.tokens)
			t.Fatalf("/healthz still ok 10 s after the token directory went: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
		code, body = d.healthz()
	}
	t.Logf("/healthz not ok %v after removal: %s", time.Since(gone).Round(time.Millisecond), body)
	if err := os.Rename(away, d.tokens); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		code, body := d.healthz()
		if code == http.StatusOK {
			if err := d.timestamp(t); err == nil {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("not recovered 60 s after the token directory came back: %d %s\n%s", code, body, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("/healthz ok and TSA signing %v after the token came back", time.Since(back).Round(time.Millisecond))
}
