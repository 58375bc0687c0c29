package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/internal/center"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/tsa"
)

// liveCenter is a center built with the real commands: migrate, the demo
// ceremony, three `muhr dev issue` runs, and TSA tokens from the real TSA
// server and batch ledger on the center's token and database.
type liveCenter struct {
	dir, cfg string
	leaves   []*x509.Certificate // issued by dev issue
	tokens   []*big.Int          // TSA serials
}

// issuanceConfig is what `muhr dev issue` needs beyond testCenter's file.
const issuanceConfig = "issuance:\n  policy_oid: 1.3.6.1.4.1.59999.1.1\n  pds:\n    - {url: https://muhr.example.tj/pds/en.pdf, language: en}\n"

func buildCenter(t *testing.T, dir, cfg string) *liveCenter {
	t.Helper()
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(issuanceConfig)
	f.Close()
	if out, err := run(t, "db", "migrate", "--config", cfg); err != nil {
		t.Fatalf("db migrate: %v\n%s", err, out)
	}
	plan, err := os.ReadFile("../../configs/ceremony-demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	planPath := filepath.Join(dir, "ceremony.yaml")
	os.WriteFile(planPath, plan, 0o600)
	if out, err := run(t, "ceremony", "run", "--config", planPath, "--ca-dir", filepath.Join(dir, "ca")); err != nil {
		t.Fatalf("ceremony: %v\n%s", err, out)
	}
	c := &liveCenter{dir: dir, cfg: cfg}
	id := filepath.Join(dir, "id.json")
	os.WriteFile(id, []byte(`{"kind":"person","surname":"Раҳимов","given_name":"Ҷамшед","patronymic":"Ғафурович","personal_number":"123456789012","country":"TJ"}`), 0o600)
	for i := range 3 {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
		if err != nil {
			t.Fatal(err)
		}
		csr := filepath.Join(dir, fmt.Sprintf("req%d.csr", i))
		os.WriteFile(csr, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o600)
		out, err := run(t, "dev", "issue", "--config", cfg, "--profile", "qes-person", "--csr", csr, "--identity", id)
		if err != nil {
			t.Fatalf("dev issue: %v\n%s", err, out)
		}
		b, _ := pem.Decode([]byte(out))
		if b == nil {
			t.Fatalf("dev issue printed no certificate:\n%s", out)
		}
		leaf, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		c.leaves = append(c.leaves, leaf)
	}
	c.stamp(t, 12)
	return c
}

// stamp has the real TSA issue n tokens through the batch ledger,
// concurrently so some batches hold several rows.
func (c *liveCenter) stamp(t *testing.T, n int) {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := center.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), center.ConfigPath(c.cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer parts.Close()
	unit, err := tsa.LoadUnit(ctx, parts.Store, parts.Keys, "qca-demo", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ledger := tsa.NewBatchLedger(parts.Store, 0)
	defer ledger.Close()
	srv, err := tsa.New(tsa.Options{Unit: unit, Ledger: ledger, Clock: sysClock{}, Accuracy: time.Second,
		Policies: []asn1.ObjectIdentifier{tsa.DefaultPolicy}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	replies := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, err := timestamp.CreateRequest(strings.NewReader(fmt.Sprint("document ", i, time.Now())), &timestamp.RequestOptions{Hash: crypto.SHA256})
			if err != nil {
				t.Error(err)
				return
			}
			replies[i] = srv.Respond(ctx, req, "192.0.2.9:1")
		})
	}
	wg.Wait()
	// Parsed one at a time: digitorus/pkcs7's BER parser races with itself.
	for _, reply := range replies {
		ts, err := timestamp.ParseResponse(reply)
		if err != nil {
			t.Fatalf("TSA reply: %v", err)
		}
		c.tokens = append(c.tokens, ts.SerialNumber)
	}
}

type sysClock struct{}

func (sysClock) Now(context.Context) (time.Time, error) { return time.Now(), nil }

var headLine = regexp.MustCompile(`(?m)^head: seq=(\d+) sha256=([0-9a-f]{64})$`)

// verify runs `muhr audit verify` and returns its output and the head it
// printed ("SEQ:HEX").
func verify(t *testing.T, cfg string, args ...string) (string, string, error) {
	t.Helper()
	out, err := run(t, append([]string{"audit", "verify", "--config", cfg}, args...)...)
	head := ""
	if m := headLine.FindStringSubmatch(out); m != nil {
		head = m[1] + ":" + m[2]
	}
	return out, head, err
}

// copyCenter copies a closed SQLite center (config and database) to a new
// directory, so each tampering starts from the same healthy state.
func copyCenter(t *testing.T, c *liveCenter) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	for _, name := range []string{"muhrd.yaml", "muhr.db", "muhr.db-wal"} {
		b, err := os.ReadFile(filepath.Join(c.dir, name))
		if errors.Is(err, os.ErrNotExist) && name != "muhrd.yaml" && name != "muhr.db" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, filepath.Join(dir, "muhrd.yaml")
}

func sqlExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	res, err := db.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s: changed nothing", q)
	}
}

func TestAuditVerifyCrossChecksSQLite(t *testing.T) {
	dir, cfg := testCenter(t)
	c := buildCenter(t, dir, cfg)

	out, head, err := verify(t, cfg)
	if err != nil {
		t.Fatalf("audit verify of a healthy center: %v\n%s", err, out)
	}
	// The ceremony's CA and signer certificates, and the three leaves.
	if head == "" || !strings.Contains(out, "audit chain OK") || !regexp.MustCompile(`cross-check OK: \d+ certificates \(0 status changes\), 12 TSA tokens in \d+ ledger batches`).MatchString(out) {
		t.Fatalf("audit verify output:\n%s", out)
	}
	if out, err := run(t, "audit", "verify", "--config", cfg, "--expect-head", head); err != nil || !strings.Contains(out, "matches") {
		t.Fatalf("--expect-head of its own head: %v\n%s", err, out)
	}
	headFile := filepath.Join(t.TempDir(), "head.txt")
	os.WriteFile(headFile, []byte(out), 0o600) // the whole output: the head line is found in it
	if out, err := run(t, "audit", "verify", "--config", cfg, "--expect-head", headFile); err != nil {
		t.Fatalf("--expect-head from a file: %v\n%s", err, out)
	}
	for _, bad := range []string{"12", "x:" + strings.Repeat("0", 64), filepath.Join(dir, "no-such-file")} {
		if _, err := run(t, "audit", "verify", "--config", cfg, "--expect-head", bad); err == nil ||
			!strings.Contains(err.Error(), "--expect-head") {
			t.Errorf("--expect-head %q: %v", bad, err)
		} else if k, ok := err.(interface{ ErrorKind() string }); !ok || k.ErrorKind() != "invalid" {
			t.Errorf("--expect-head %q: error %T is not marked invalid input", bad, err)
		}
	}

	leaf := c.leaves[1]
	leafKey := fmt.Sprintf("qca-demo/%x", leaf.SerialNumber)
	tok := c.tokens[4].Text(16)
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, db *sql.DB)
		expect bool // pass the kept head
		want   []string
		kind   error
	}{
		{"delete newest records", func(t *testing.T, db *sql.DB) {
			sqlExec(t, db, "DELETE FROM audit_log WHERE seq > (SELECT MAX(seq) - 2 FROM audit_log)")
		}, true, []string{"chain ends at record", "before the kept head"}, audit.ErrHeadMismatch},
		{"delete a certificate row", func(t *testing.T, db *sql.DB) {
			sqlExec(t, db, "DELETE FROM certificates WHERE issuer_id = 'qca-demo' AND serial = ?", leaf.SerialNumber.Text(16))
		}, false, []string{"certificate " + leafKey, "no row for it"}, audit.ErrMismatch},
		{"mark one revoked without a record", func(t *testing.T, db *sql.DB) {
			sqlExec(t, db, "UPDATE certificates SET status = 'revoked', revoked_at = 1, revocation_reason = 1 WHERE issuer_id = 'qca-demo' AND serial = ?",
				leaf.SerialNumber.Text(16))
		}, false, []string{"certificate " + leafKey, "the row says revoked, but no record in the chain changes its status"}, audit.ErrMismatch},
		{"delete a TSA ledger row", func(t *testing.T, db *sql.DB) {
			sqlExec(t, db, "DELETE FROM tsa_tokens WHERE serial = ?", tok)
		}, false, []string{"TSA token " + tok, "the ledger has no row for it"}, audit.ErrMismatch},
		{"alter a ledger row's token", func(t *testing.T, db *sql.DB) {
			sqlExec(t, db, "UPDATE tsa_tokens SET token_der = CAST(substr(token_der, 1, length(token_der) - 1) || X'00' AS BLOB) WHERE serial = ?", tok)
		}, false, []string{"TSA token " + tok + ":", "a row was changed"}, audit.ErrMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tdir, tcfg := copyCenter(t, c)
			if out, _, err := verify(t, tcfg); err != nil {
				t.Fatalf("the copy does not verify before tampering: %v\n%s", err, out)
			}
			db, err := sql.Open("sqlite", filepath.Join(tdir, "muhr.db"))
			if err != nil {
				t.Fatal(err)
			}
			tc.tamper(t, db)
			db.Close()
			var args []string
			if tc.expect {
				args = []string{"--expect-head", head}
			}
			out, _, err := verify(t, tcfg, args...)
			if err == nil || !errors.Is(err, tc.kind) {
				t.Fatalf("audit verify after tampering: %v (want %v)\n%s", err, tc.kind, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// Once on PostgreSQL: a healthy center passes; deleting the newest record
// (the last ledger batch's) is caught by the kept head, and without it by
// the ledger rows it leaves uncovered.
func TestAuditVerifyCrossChecksPostgres(t *testing.T) {
	tok := testpki.SoftHSM(t)
	dsn := testpki.PostgresDSN(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "muhrd.yaml")
	body := "listen: 127.0.0.1:0\npublic_url: http://127.0.0.1:8080\ndatabase:\n  driver: postgres\n  dsn: '" + dsn + "'\n" +
		"hsm:\n  module: " + tok.Module + "\n  token_label: " + tok.Label + "\n  pin_file: " + tok.PINFile + "\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c := buildCenter(t, dir, cfg)
	out, head, err := verify(t, cfg)
	if err != nil || head == "" || !strings.Contains(out, "12 TSA tokens") {
		t.Fatalf("audit verify of a healthy PostgreSQL center: %v\n%s", err, out)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var details string
	if err := db.QueryRow("SELECT CAST(details AS TEXT) FROM audit_log WHERE action = $1 ORDER BY seq DESC LIMIT 1", audit.ActionLedgerBatch).Scan(&details); err != nil {
		t.Fatal(err)
	}
	sqlExec(t, db, "DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)")
	if _, _, err := verify(t, cfg, "--expect-head", head); !errors.Is(err, audit.ErrHeadMismatch) {
		t.Fatalf("with the kept head after deleting the newest record: %v", err)
	}
	_, _, err = verify(t, cfg)
	var me *audit.MismatchError
	if !errors.As(err, &me) || !strings.HasPrefix(me.Item, "TSA token ") || !strings.Contains(details, strings.TrimPrefix(me.Item, "TSA token ")) {
		t.Fatalf("without the head: %v; want a TSA token of the deleted batch %s", err, details)
	}
	found := false
	for _, s := range c.tokens {
		found = found || "TSA token "+s.Text(16) == me.Item
	}
	if !found {
		t.Errorf("named token %s is not one the TSA issued", me.Item)
	}
}
