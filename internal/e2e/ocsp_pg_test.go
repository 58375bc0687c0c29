package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/internal/testpki"
)

// pgCluster is a PostgreSQL cluster of the test's own, which it may stop
// and start (the shared cluster must never be stopped).
type pgCluster struct {
	dir, bin string
	port     int
	asPG     bool // root: run the server as the postgres user
}

func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	bin := ""
	if len(bins) > 0 {
		bin = filepath.Dir(bins[len(bins)-1])
	} else if p, err := exec.LookPath("initdb"); err == nil {
		bin = filepath.Dir(p)
	} else {
		testpki.Missing(t, "PostgreSQL's initdb not found")
	}
	dir, err := os.MkdirTemp("", "muhr-e2e-pg-")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c := &pgCluster{dir: dir, bin: bin, port: port, asPG: os.Getuid() == 0}
	if err := os.MkdirAll(filepath.Join(dir, "sock"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	if c.asPG {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root without a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		os.Chown(dir, uid, gid)
		os.Chown(filepath.Join(dir, "sock"), uid, gid)
	}
	t.Cleanup(func() {
		c.pgctl("-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	})
	if out, err := c.sh(fmt.Sprintf("'%s/initdb' -D '%s/data' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8", bin, dir)); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.start(t)
	return c
}

func (c *pgCluster) sh(cmd string) ([]byte, error) {
	if c.asPG {
		return exec.Command("su", "postgres", "-s", "/bin/sh", "-c", cmd).CombinedOutput()
	}
	return exec.Command("/bin/sh", "-c", cmd).CombinedOutput()
}

func (c *pgCluster) pgctl(args ...string) ([]byte, error) {
	return c.sh(fmt.Sprintf("'%s/pg_ctl' -D '%s/data' %s", c.bin, c.dir, strings.Join(args, " ")))
}

func (c *pgCluster) start(t *testing.T) {
	t.Helper()
	opts := fmt.Sprintf(`-o "-k %s/sock -p %d -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"`, c.dir, c.port)
	if out, err := c.pgctl("-l", c.dir+"/server.log", "-w", opts, "start"); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
}

func (c *pgCluster) stop(t *testing.T) {
	t.Helper()
	if out, err := c.pgctl("-m", "fast", "-w", "stop"); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

func (c *pgCluster) dsn() string {
	return fmt.Sprintf("host=%s/sock port=%d user=postgres dbname=postgres sslmode=disable", c.dir, c.port)
}

// ocspDaemon is a second muhrd with only the ocsp role, on its own ports.
type ocspDaemon struct {
	*daemon
	addr, ops string
}

func (d *demo) serveOCSPOnly(t *testing.T) *ocspDaemon {
	t.Helper()
	b, err := os.ReadFile(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := &ocspDaemon{addr: freeAddr(t), ops: freeAddr(t)}
	cfg := strings.NewReplacer("listen: "+d.addr, "listen: "+o.addr, "ops_listen: "+d.ops, "ops_listen: "+o.ops).Replace(string(b))
	path := filepath.Join(d.home, "muhrd-ocsp.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(d.muhrd, "--config", path, "--roles", "ocsp")
	cmd.Env, cmd.Dir = d.env, d.home
	m := &daemon{cmd: cmd, out: newSyncBuffer(), done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = m.out, m.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.done <- cmd.Wait() }()
	t.Cleanup(func() { m.kill() })
	o.daemon = m
	deadline := time.Now().Add(time.Minute)
	for {
		if code, _ := fetchCode("http://" + o.addr + "/healthz"); code == 200 {
			return o
		}
		select {
		case err := <-m.done:
			m.done <- err
			t.Fatalf("muhrd --roles ocsp exited: %v\n%s", err, m.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("muhrd --roles ocsp not healthy within a minute:\n%s", m.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ocspStatus runs openssl's OCSP client against url for leaf and returns
// its output; it fails the test unless the response verifies.
func (d *demo) ocspStatus(t *testing.T, url, leaf string, args ...string) string {
	t.Helper()
	all := append([]string{"ocsp", "-issuer", filepath.Join(d.home, "ca", "qca-demo.pem"), "-cert", leaf,
		"-CAfile", filepath.Join(d.home, "ca", "root-demo.pem"), "-url", url, "-resp_text"}, args...)
	out, err := exec.Command(testpki.Tool(t, "openssl"), all...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Response verify OK") {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(all, " "), err, out)
	}
	return string(out)
}

// The built binaries on a PostgreSQL cluster of the test's own: a
// revocation by `muhr dev revoke` is visible within 1 s after the command
// returns in a second `muhrd --roles ocsp` process, asked by openssl; with
// PostgreSQL stopped that process keeps answering from its cache (health
// degraded), and once PostgreSQL is back it serves new changes again and
// its health recovers.
func TestOCSPSecondProcessOnPostgres(t *testing.T) {
	pg := newPGCluster(t)
	d := newDemoDB(t, "database:\n  driver: postgres\n  dsn: '"+pg.dsn()+"'\n")
	f, err := os.OpenFile(d.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("ocsp:\n  enabled: true\n")
	f.Close()
	subs := newSubscribers(t, t.TempDir(), 3)
	id := d.personFile(t)
	for _, s := range subs {
		d.issueCmd(s, id).Run()
		if _, err := readCert(s.leaf); err != nil {
			out, _ := d.issueCmd(s, id).CombinedOutput()
			t.Fatalf("dev issue: %v\n%s", err, out)
		}
	}
	serial := func(s subscriber) string {
		c, _ := readCert(s.leaf)
		return c.SerialNumber.Text(16)
	}
	o := d.serveOCSPOnly(t)
	url := "http://" + o.addr + "/ocsp"
	for _, s := range subs {
		if out := d.ocspStatus(t, url, s.leaf, "-no_nonce"); !strings.Contains(out, s.leaf+": good") {
			t.Fatalf("before any revocation:\n%s", out)
		}
	}

	// 1. A revocation in another process is visible within 1 s.
	d.run(t, "dev", "revoke", serial(subs[0]), "--reason", "keyCompromise", "--config", d.cfg)
	returned := time.Now()
	var seen time.Duration
	for {
		out := d.ocspStatus(t, url, subs[0].leaf, "-no_nonce")
		if strings.Contains(out, subs[0].leaf+": revoked") {
			seen = time.Since(returned)
			if !strings.Contains(out, "Reason: keyCompromise") {
				t.Fatalf("revoked without its reason:\n%s", out)
			}
			break
		}
		if time.Since(returned) > 5*time.Second {
			t.Fatalf("revocation not visible in the second process 5 s after muhr dev revoke returned:\n%s", out)
		}
	}
	t.Logf("revocation visible in the second muhrd --roles ocsp %v after muhr dev revoke returned", seen.Round(time.Millisecond))
	if seen > time.Second {
		t.Errorf("revocation visible after %v, want within 1 s", seen)
	}

	// 2. PostgreSQL stopped: the cached answers are still served, signed
	// and verifiable, with and without a nonce; health degrades.
	pg.stop(t)
	down := time.Now()
	for i, s := range subs[:2] {
		want := map[int]string{0: ": revoked", 1: ": good"}[i]
		for _, flag := range []string{"-no_nonce", "-nonce"} {
			if out := d.ocspStatus(t, url, s.leaf, flag); !strings.Contains(out, s.leaf+want) {
				t.Fatalf("PostgreSQL down, %s %s: want %s\n%s", s.leaf, flag, want, out)
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := fetchCode("http://" + o.addr + "/healthz")
		if strings.Contains(body, "degraded") {
			t.Logf("PostgreSQL down: health %d %s after %v", code, strings.TrimSpace(body), time.Since(down).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health not degraded 30 s after PostgreSQL stopped: %d %s", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Still answering after health noticed.
	if out := d.ocspStatus(t, url, subs[1].leaf, "-no_nonce"); !strings.Contains(out, subs[1].leaf+": good") {
		t.Fatalf("PostgreSQL down:\n%s", out)
	}

	// 3. PostgreSQL back: a new revocation shows, health recovers.
	pg.start(t)
	d.run(t, "dev", "revoke", serial(subs[2]), "--reason", "superseded", "--config", d.cfg)
	deadline = time.Now().Add(30 * time.Second)
	for {
		out := d.ocspStatus(t, url, subs[2].leaf, "-no_nonce")
		if strings.Contains(out, subs[2].leaf+": revoked") && strings.Contains(out, "Reason: superseded") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after PostgreSQL came back, the revocation is not visible:\n%s\n%s", out, o.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		code, body := fetchCode("http://" + o.addr + "/healthz")
		if code == 200 && !strings.Contains(body, "degraded") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health not recovered 30 s after PostgreSQL came back: %d %s", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	o.noPanic(t)
}

// fetchCode GETs url; 0 and the error when it does not answer.
func fetchCode(url string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
