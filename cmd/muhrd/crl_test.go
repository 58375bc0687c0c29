package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/sqlite"
	"github.com/muhr-pki/muhr/store/sqlstore"
)

// daemonEnv turns the test binary into a muhrd process (TestMain), so a
// test can run several and kill one.
const daemonEnv = "MUHRD_TEST_RUN_AS_DAEMON"

func TestMain(m *testing.M) {
	if os.Getenv(daemonEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

// proc is a muhrd child process.
type proc struct {
	cmd  *exec.Cmd
	addr chan string
	mu   sync.Mutex
	log  strings.Builder
	done chan struct{}
}

func startProc(t *testing.T, cfg string) *proc {
	t.Helper()
	return startProcRoles(t, cfg, "ca,repository")
}

func startProcRoles(t *testing.T, cfg, roles string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "--config", cfg, "--roles", roles)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, addr: make(chan string, 1), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			var rec struct {
				Msg    string `json:"msg"`
				Listen string `json:"listen"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "muhrd serving" {
				p.addr <- rec.Listen
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) logs() string { p.mu.Lock(); defer p.mu.Unlock(); return p.log.String() }

func (p *proc) wait(t *testing.T) string {
	t.Helper()
	select {
	case a := <-p.addr:
		return a
	case <-p.done:
		t.Fatalf("muhrd exited:\n%s", p.logs())
	case <-time.After(2 * time.Minute):
		t.Fatalf("muhrd did not start:\n%s", p.logs())
	}
	return ""
}

func revokeSQL(t *testing.T, st *sqliteStore, serial int64) {
	t.Helper()
	n := big.NewInt(serial)
	now := time.Now()
	err := st.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		if err := tx.ReserveSerial(ctx, store.SerialReservation{IssuerID: "qca-demo", Serial: n, Purpose: "test", ReservedAt: now}); err != nil {
			return err
		}
		return tx.InsertCertificate(ctx, store.Certificate{IssuerID: "qca-demo", Serial: n, Subject: "CN=t", Profile: "test",
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DER: []byte{0x30}, Status: store.CertStatusValid})
	})
	if err != nil {
		t.Fatal(err)
	}
	// As the revocation (built elsewhere) will: status, time and reason.
	if _, err := st.DB().Exec(`UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = 1
		WHERE issuer_id = 'qca-demo' AND serial = ?`, now.Add(-time.Second).UnixMicro(), n.Text(16)); err != nil {
		t.Fatal(err)
	}
}

type sqliteStore = sqlstore.Store

func pemCert(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// listed waits until the qualified CA's latest CRL lists serial and
// returns that CRL.
func listed(t *testing.T, st *sqliteStore, serial int64, within time.Duration) store.CRL {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if crl, err := st.LatestCRL(context.Background(), "qca-demo"); err == nil {
			rl, err := x509.ParseRevocationList(crl.DER)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range rl.RevokedCertificateEntries {
				if e.SerialNumber.Int64() == serial {
					return crl
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("serial %x not on the CRL after %v", serial, within)
	return store.CRL{}
}

func leaseHolder(t *testing.T, st *sqliteStore) string {
	t.Helper()
	var h string
	if err := st.DB().QueryRow(`SELECT holder FROM leases WHERE name = ?`, ca.CRLLeaseName).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// Two muhrd with the ca role on one database: one produces under the
// lease, a revocation is on the CRL within the poll, and when the producer
// is killed (no release) the other takes over after the lease's TTL; CRL
// numbers only grow, and the survivor serves the CRL at the CDP URL.
func TestCRLProducersTwoProcessesAndTakeover(t *testing.T) {
	opensslBin := testpki.Tool(t, "openssl")
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "muhr.db")
	st, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok := testpki.SoftHSM(t)
	keys, err := pkcs11.Open(context.Background(), tok.Config(2))
	if err != nil {
		t.Fatal(err)
	}
	var plan ca.Plan
	if err := config.LoadStrict("../../configs/ceremony-demo.yaml", &plan); err != nil {
		t.Fatal(err)
	}
	if _, err := (&ca.Ceremony{Keys: keys, Store: st, PublicURL: "http://127.0.0.1:8080"}).Run(context.Background(), &plan); err != nil {
		t.Fatal(err)
	}
	keys.Close()

	cfg := filepath.Join(dir, "muhrd.yaml")
	writeFile(t, cfg, fmt.Sprintf("listen: 127.0.0.1:0\nops_listen: \"\"\nlog: {level: info}\n"+
		"database: {driver: sqlite, path: %s}\nhsm: {module: %s, token_label: %s, pin_file: %s, softhsm2_conf: %s}\n"+
		"crl: {enabled: true, poll: 1s, interval: 1h, validity: 72h}\n", dbPath, tok.Module, tok.Label, tok.PINFile, tok.Conf))
	a, b := startProc(t, cfg), startProc(t, cfg)
	addrs := map[int]string{a.cmd.Process.Pid: a.wait(t), b.cmd.Process.Pid: b.wait(t)}

	revokeSQL(t, st, 0x5001)
	first := listed(t, st, 0x5001, 30*time.Second)
	holder := leaseHolder(t, st)
	victim, survivor := a, b
	if !strings.Contains(holder, fmt.Sprintf("/%d/", a.cmd.Process.Pid)) {
		victim, survivor = b, a
	}
	if !strings.Contains(holder, fmt.Sprintf("/%d/", victim.cmd.Process.Pid)) {
		t.Fatalf("lease holder %q is neither process", holder)
	}
	if strings.Contains(survivor.logs(), `"crl: issued"`) {
		t.Fatalf("both processes produced CRLs:\n%s", survivor.logs())
	}

	// Killed: the lease is not released; the survivor waits out its TTL (3 s).
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	revokeSQL(t, st, 0x5002)
	second := listed(t, st, 0x5002, 30*time.Second)
	if second.Number.Cmp(first.Number) <= 0 {
		t.Fatalf("CRL number went from %v to %v", first.Number, second.Number)
	}
	if h := leaseHolder(t, st); !strings.Contains(h, fmt.Sprintf("/%d/", survivor.cmd.Process.Pid)) {
		t.Fatalf("after the kill the lease is %q", h)
	}
	if !strings.Contains(survivor.logs(), "crl: producing (lease taken)") {
		t.Fatalf("survivor did not take over:\n%s", survivor.logs())
	}
	// Numbers grow with thisUpdate across both producers.
	rows, err := st.DB().Query(`SELECT number, this_update FROM crls WHERE issuer_id = 'qca-demo' ORDER BY number`)
	if err != nil {
		t.Fatal(err)
	}
	var prevAt int64
	var count int
	for rows.Next() {
		var num string
		var at int64
		if err := rows.Scan(&num, &at); err != nil {
			t.Fatal(err)
		}
		if at < prevAt {
			t.Fatalf("CRL %s has an earlier thisUpdate than the one before it", num)
		}
		prevAt = at
		count++
	}
	rows.Close()
	if count < 3 {
		t.Fatalf("%d CRLs of qca-demo, want at least 3", count)
	}

	// The survivor serves the CRL at the URL the CDP names.
	res, err := http.Get("http://" + addrs[survivor.cmd.Process.Pid] + "/crl/qca-demo.crl")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/pkix-crl" {
		t.Fatalf("GET /crl/qca-demo.crl: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	crlFile := filepath.Join(dir, "qca.crl")
	writeFile(t, crlFile, string(body))
	root, _ := st.GetCA(context.Background(), "root-demo")
	qca, _ := st.GetCA(context.Background(), "qca-demo")
	chain := filepath.Join(dir, "chain.pem")
	writeFile(t, chain, pemCert(qca.CertDER)+pemCert(root.CertDER))
	out, err := exec.Command(opensslBin, "crl", "-inform", "DER", "-in", crlFile, "-CAfile", chain, "-verify", "-noout", "-text").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verify OK") || !strings.Contains(string(out), "Serial Number: 5002") ||
		!strings.Contains(string(out), "Serial Number: 5001") {
		t.Fatalf("openssl crl: %v\n%s", err, out)
	}
	// Exactly the revoked serials: 5001 and 5002, nothing else.
	if n := strings.Count(string(out), "Serial Number:"); n != 2 {
		t.Fatalf("the CRL lists %d serials, want exactly the 2 revoked:\n%s", n, out)
	}
}
