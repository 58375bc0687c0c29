package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to inspect the center's PostgreSQL database
	_ "modernc.org/sqlite"             // database/sql driver "sqlite", to inspect and lock the center's file

	"github.com/muhr-pki/muhr/internal/testpki"
)

// daemon is one muhrd process of a demo.
type daemon struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

// serve starts muhrd with extra flags and waits until /healthz is 200.
func (d *demo) serve(t *testing.T, args ...string) *daemon {
	t.Helper()
	if code, _ := d.healthz(); code != 0 {
		t.Fatalf("another muhrd answers on %s already", d.addr)
	}
	cmd := exec.Command(d.muhrd, append([]string{"--config", d.cfg}, args...)...)
	cmd.Env, cmd.Dir = d.env, d.home
	m := &daemon{cmd: cmd, out: newSyncBuffer(), done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = m.out, m.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.done <- cmd.Wait() }()
	t.Cleanup(func() { m.kill() })
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case err := <-m.done:
			m.done <- err
			t.Fatalf("muhrd exited at start: %v\n%s", err, m.out.String())
		default:
		}
		if code, _ := d.healthz(); code == http.StatusOK {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("muhrd not healthy within a minute:\n%s", m.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL and reaps the process (a no-op once it has exited).
func (m *daemon) kill() {
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	err := <-m.done
	m.done <- err
}

// stop sends SIGTERM and waits for a clean exit.
func (m *daemon) stop(t *testing.T) {
	t.Helper()
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-m.done:
		m.done <- err
		if err != nil {
			t.Fatalf("muhrd did not stop cleanly: %v\n%s", err, m.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("muhrd did not stop within 30 s of SIGTERM\n%s", m.out.String())
	}
}

// noPanic fails the test when muhrd's output shows a panic or a data race.
func (m *daemon) noPanic(t *testing.T) {
	t.Helper()
	out := m.out.String()
	for _, bad := range []string{"panic", "goroutine ", "DATA RACE"} {
		if strings.Contains(out, bad) {
			t.Fatalf("muhrd output holds %q:\n%s", bad, out)
		}
	}
}

// get does one GET with a timeout and returns status and body.
func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// publicCode matches what the public /healthz may show: statuses and
// reason codes, never error text.
var publicCode = regexp.MustCompile(`^[a-z_]{1,40}$`)

// checkPublicHealth asserts body is a public health answer that holds
// only codes (no path, host, driver or error text) and returns it.
func checkPublicHealth(t *testing.T, d *demo, body string) map[string]string {
	t.Helper()
	var h map[string]string
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("public /healthz is not a flat JSON object of strings: %v: %s", err, body)
	}
	known := map[string]bool{"status": true, "reason": true, "db": true, "hsm": true, "tsa_clock": true}
	for k, v := range h {
		if !known[k] || !publicCode.MatchString(v) {
			t.Fatalf("public /healthz shows %q: %q (only status and reason codes may show): %s", k, v, body)
		}
	}
	for _, leak := range []string{d.home, "sqlite", "postgres", "muhr.db", "127.0.0.1", "/", "error"} {
		if strings.Contains(body, leak) {
			t.Fatalf("public /healthz shows internal text %q: %s", leak, body)
		}
	}
	return h
}

// opsHealth is the operations listener's detailed answer.
type opsHealth struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
	Checks []struct {
		Name, Target, Status, Reason, Error string
	} `json:"checks"`
}

func (d *demo) opsHealthz(t *testing.T) opsHealth {
	t.Helper()
	_, body := fetch(t, "http://"+d.ops+"/healthz")
	var h opsHealth
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("ops /healthz: %v: %s", err, body)
	}
	return h
}

// subscriber is a key and its CSR, made here as a subscriber's software
// would.
type subscriber struct {
	csr, leaf string // files
}

// newSubscribers writes n P-256 keys' CSRs into dir.
func newSubscribers(t *testing.T, dir string, n int) []subscriber {
	t.Helper()
	subs := make([]subscriber, n)
	for i := range subs {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, k)
		if err != nil {
			t.Fatal(err)
		}
		subs[i] = subscriber{csr: filepath.Join(dir, fmt.Sprintf("s%d.csr", i)), leaf: filepath.Join(dir, fmt.Sprintf("s%d.pem", i))}
		if err := os.WriteFile(subs[i].csr, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return subs
}

// personFile writes the quickstart's example identity.
func (d *demo) personFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(d.home, "person.json")
	if err := os.WriteFile(p, []byte(`{"kind":"person","surname":"Раҳимов","given_name":"Ҷамшед","patronymic":"Ғафурович","personal_number":"123456789012","country":"TJ"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// issueCmd is `muhr dev issue` for one subscriber.
func (d *demo) issueCmd(s subscriber, identity string) *exec.Cmd {
	return d.command("dev", "issue", "--config", d.cfg, "--profile", "qes-person", "--csr", s.csr, "--identity", identity, "--out", s.leaf)
}

// readCert reads a PEM certificate file.
func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM", path)
	}
	return x509.ParseCertificate(blk.Bytes)
}

// verifyChain runs openssl verify on every leaf against the demo's root
// and qualified CA, in one call.
func (d *demo) verifyChain(t *testing.T, leaves []string) {
	t.Helper()
	if len(leaves) == 0 {
		return
	}
	args := append([]string{"verify", "-CAfile", filepath.Join(d.home, "ca", "root-demo.pem"),
		"-untrusted", filepath.Join(d.home, "ca", "qca-demo.pem")}, leaves...)
	out := openssl(t, args...)
	if n := strings.Count(out, ": OK"); n != len(leaves) {
		t.Fatalf("openssl verify: %d of %d certificates OK:\n%s", n, len(leaves), out)
	}
}

// centerDB opens the demo's database for inspection and fault injection.
type centerDB struct {
	*sql.DB
	sqlite bool
}

func (d *demo) openDB(t *testing.T) *centerDB {
	t.Helper()
	b, err := os.ReadFile(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var db *sql.DB
	cdb := &centerDB{}
	if m := regexp.MustCompile(`(?m)^  dsn: '([^']*)'$`).FindSubmatch(b); m != nil {
		db, err = sql.Open("pgx", string(m[1]))
	} else {
		cdb.sqlite = true
		db, err = sql.Open("sqlite", "file:"+filepath.Join(d.home, "muhr.db")+"?_pragma=busy_timeout(10000)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cdb.DB = db
	return cdb
}

// count runs a SELECT count(*) ... query.
func (db *centerDB) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// tsaClient is a relying party's RFC 3161 client (digitorus/timestamp, a
// library we did not write). It asks for the certificates, so a released
// token is the one `muhr tsa show` fingerprints.
type released struct {
	serial string // ledger form: lowercase hex
	sha256 string // of the token (ContentInfo) as received
	at     time.Time
}

var errRejected = errors.New("TSA rejection")

// parseMu serialises digitorus/timestamp's parsing: its BER decoder
// (digitorus/pkcs7 ber.go) keeps a package-level indent counter, a data
// race when two goroutines parse at once.
var parseMu sync.Mutex

func timestampOnce(ctx context.Context, base string, data []byte) (released, error) {
	q, err := timestamp.CreateRequest(bytes.NewReader(data), &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: true})
	if err != nil {
		return released{}, err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/tsa", bytes.NewReader(q))
	req.Header.Set("Content-Type", "application/timestamp-query")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return released{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return released{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return released{}, fmt.Errorf("POST /tsa: %d %s", resp.StatusCode, body)
	}
	parseMu.Lock()
	ts, err := timestamp.ParseResponse(body)
	parseMu.Unlock()
	if err != nil {
		return released{}, fmt.Errorf("%w: %v", errRejected, err)
	}
	h := sha256.Sum256(data)
	if !bytes.Equal(ts.HashedMessage, h[:]) {
		return released{}, fmt.Errorf("token for another imprint")
	}
	sum := sha256.Sum256(ts.RawToken)
	return released{serial: ts.SerialNumber.Text(16), sha256: hex.EncodeToString(sum[:]), at: time.Now()}, nil
}

// tsResponse is a TimeStampResp's outer shape (RFC 3161 §2.4.2), parsed
// leniently to read the status of any answer.
type tsResponse struct {
	Status struct {
		Status       int
		StatusString []string       `asn1:"optional,utf8"`
		FailInfo     asn1.BitString `asn1:"optional"`
	}
	Token asn1.RawValue `asn1:"optional"`
}

// parallel runs f(i) for i < n on n goroutines and waits.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// needPostgres returns a fresh database's DSN (failing under CI=true when
// there is no cluster).
func needPostgres(t *testing.T) string {
	t.Helper()
	return testpki.PostgresDSN(t)
}

func asn1Unmarshal(b []byte, v any) ([]byte, error) { return asn1.Unmarshal(b, v) }

func dialTCP(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }
