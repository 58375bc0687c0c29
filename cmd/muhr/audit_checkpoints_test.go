package main

import (
	"context"
	"database/sql"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/audit/checkpoint"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/internal/center"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/tsa"
)

// writeCheckpoints has the real checkpoint writer (the center's token,
// the real TSA in process) write n checkpoints into the center's
// audit.checkpoint_dir, one interval apart on a moved clock.
func writeCheckpoints(t *testing.T, cfgPath string, n int) []*checkpoint.File {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := center.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), center.ConfigPath(cfgPath))
	if err != nil {
		t.Fatal(err)
	}
	defer parts.Close()
	unit, err := tsa.LoadUnit(ctx, parts.Store, parts.Keys, "qca-demo", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := tsa.New(tsa.Options{Unit: unit, Ledger: tsa.StoreLedger(parts.Store), Clock: sysClock{}, Accuracy: time.Second,
		Policies: []asn1.ObjectIdentifier{tsa.DefaultPolicy}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(ctx)
	var mu sync.Mutex
	now := time.Now()
	w := &checkpoint.Writer{Store: parts.Store, Keys: parts.Keys, KeyLabel: cfg.Audit.CheckpointKey, KeyAlg: hsm.ECDSAP256,
		TSA: checkpoint.TimestamperFunc(func(ctx context.Context, req []byte) ([]byte, error) {
			return srv.Respond(ctx, req, "muhrd audit checkpoint"), nil
		}),
		Dir: checkpoint.Dir{Path: cfg.Audit.CheckpointDir}, Interval: time.Minute, Holder: "test", Actor: "muhrd",
		Clock: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
	var out []*checkpoint.File
	for range n {
		f, err := w.Tick(ctx)
		if err != nil || f == nil {
			t.Fatalf("checkpoint: %v %v", f, err)
		}
		out = append(out, f)
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
	}
	return out
}

// checkpointTamper runs the two tamperings the checkpoints exist for
// through `muhr audit verify`: the newest records deleted, and the whole
// chain rewritten and re-hashed.
func checkpointTamper(t *testing.T, cfg string, db *sql.DB, ph func(int) string) {
	t.Helper()
	if out, _, err := verify(t, cfg); err != nil || !strings.Contains(out, "checkpoints: none in ") {
		t.Fatalf("audit verify before any checkpoint: %v\n%s", err, out)
	}
	cps := writeCheckpoints(t, cfg, 2)
	newest := cps[len(cps)-1]
	out, _, err := verify(t, cfg)
	if err != nil || !strings.Contains(out, "checkpoints OK: 2 in ") || !strings.Contains(out, fmt.Sprintf("vouches for record %d", newest.Seq)) {
		t.Fatalf("audit verify with two checkpoints: %v\n%s", err, out)
	}
	// The same from a muhrd operations listener.
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := checkpoint.Handler{Dir: checkpoint.Dir{Path: c.Audit.CheckpointDir}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /audit/checkpoints", h.List)
	mux.HandleFunc("GET /audit/checkpoints/{number}", h.One)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	if out, _, err := verify(t, cfg, "--checkpoints", hs.URL); err != nil || !strings.Contains(out, "checkpoints OK: 2 in "+hs.URL) {
		t.Fatalf("audit verify --checkpoints URL: %v\n%s", err, out)
	}

	// Delete the newest records, the checkpointed head among them.
	if _, err := db.Exec("CREATE TABLE audit_keep AS SELECT * FROM audit_log"); err != nil {
		t.Fatal(err)
	}
	sqlExec(t, db, "DELETE FROM audit_log WHERE seq >= "+ph(1), newest.Seq-1)
	_, _, err = verify(t, cfg)
	var cm *checkpoint.ChainMismatch
	want := fmt.Sprintf("records %d..%d are missing", newest.Seq-1, newest.Seq)
	if !errors.As(err, &cm) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), fmt.Sprintf("checkpoint %d ", newest.Number)) {
		t.Fatalf("after deleting the newest records: %v; want %q", err, want)
	}
	code, msg := exitFor(err)
	if code == 0 {
		t.Fatal("exit code 0")
	}
	t.Logf("deleted: exit %d: %s", code, msg)
	sqlExec(t, db, "DELETE FROM audit_log")
	sqlExec(t, db, "INSERT INTO audit_log SELECT * FROM audit_keep")
	if out, _, err := verify(t, cfg); err != nil {
		t.Fatalf("restored: %v\n%s", err, out)
	}

	// Rewrite the first record and re-hash the whole chain: consistent on
	// its own, but not the chain the checkpoints vouch for.
	ctx := context.Background()
	s, err := openStoreFromConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.AuditRecords(ctx, 0, 1_000_000)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	var last *store.AuditRecord
	for i, r := range recs {
		e := audit.Entry{Actor: r.Actor, Action: r.Action, Object: r.Object, Details: r.Details}
		if i == 0 {
			e.Actor = "ceremony-rewritten"
		}
		n, err := audit.Seal(last, r.Time, e)
		if err != nil {
			t.Fatal(err)
		}
		sqlExec(t, db, fmt.Sprintf("UPDATE audit_log SET actor = %s, prev_hash = %s, hash = %s WHERE seq = %s", ph(1), ph(2), ph(3), ph(4)),
			n.Actor, n.PrevHash, n.Hash, n.Seq)
		last = &n
	}
	_, _, err = verify(t, cfg)
	if !errors.As(err, &cm) || cm.Got == nil || !strings.Contains(err.Error(), "checkpoint 1 ") ||
		!strings.Contains(err.Error(), fmt.Sprintf("record %d", cps[0].Seq)) || !strings.Contains(err.Error(), "rewritten") {
		t.Fatalf("after rewriting the chain: %v", err)
	}
	code, msg = exitFor(err)
	t.Logf("rewritten: exit %d: %s", code, msg)
	var chainErr *audit.ChainError
	if errors.As(err, &chainErr) {
		t.Fatalf("the rewritten chain should pass on its own: %v", chainErr)
	}
}

func TestAuditVerifyCheckpointsSQLite(t *testing.T) {
	dir, cfg := testCenter(t)
	buildCenter(t, dir, cfg)
	db, err := sql.Open("sqlite", filepath.Join(dir, "muhr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkpointTamper(t, cfg, db, func(int) string { return "?" })

	// A checkpoint file that does not verify is named.
	c, _ := config.Load(cfg)
	p := filepath.Join(c.Audit.CheckpointDir, "checkpoint-00000002.json")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), `"seq": `, `"seq": 1`, 1)), 0o600)
	if _, _, err := verify(t, cfg); err == nil || !strings.Contains(err.Error(), "checkpoint 2") || !errors.Is(err, checkpoint.ErrInvalid) {
		t.Fatalf("a changed checkpoint file: %v", err)
	}
}

func TestAuditVerifyCheckpointsPostgres(t *testing.T) {
	tok := testpki.SoftHSM(t)
	dsn := testpki.PostgresDSN(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "muhrd.yaml")
	body := "listen: 127.0.0.1:0\npublic_url: http://127.0.0.1:8080\ndatabase:\n  driver: postgres\n  dsn: '" + dsn + "'\n" +
		"hsm:\n  module: " + tok.Module + "\n  token_label: " + tok.Label + "\n  pin_file: " + tok.PINFile + "\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	buildCenter(t, dir, cfg)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkpointTamper(t, cfg, db, func(i int) string { return fmt.Sprintf("$%d", i) })
}
