package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/audit/checkpoint"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/server"
	"github.com/muhr-pki/muhr/store/sqlite"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

// Two muhrd with the tsa and checkpoint roles on one database and one
// directory write a checkpoint every second between them (never two in an
// interval), timestamped by their own TSA; the key, absent from the
// token, is made there on first need and audited; the directory is served
// on the operations listener.
func TestCheckpointRoleWritesOnSchedule(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "muhr.db")
	st, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	pki := tsatest.NewPKI(t, st)
	cpDir := filepath.Join(t.TempDir(), "checkpoints")
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nops_listen: 127.0.0.1:0\nlog: {level: warn}\n"+
		"database: {driver: sqlite, path: %s}\nhsm: {module: %s, token_label: %s, pin_file: %s}\n%s"+
		"audit: {checkpoints: true, checkpoint_interval: 1s, checkpoint_dir: %s, checkpoint_key: audit-checkpoint-2}\n",
		dbPath, pki.SoftHSM.Module, pki.SoftHSM.Label, pki.SoftHSM.PINFile, tsaSection, cpDir)
	p := filepath.Join(t.TempDir(), "muhrd.yaml")
	writeFile(t, p, cfg)
	d1 := startDaemon(t, roleTable(), "--config", p, "--roles", "tsa,checkpoint")
	d2 := startDaemon(t, roleTable(), "--config", p, "--roles", "tsa,checkpoint")
	dir := checkpoint.Dir{Path: cpDir}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ns, _ := dir.Numbers()
		if len(ns) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %v checkpoints in 30 s:\n%s\n%s", ns, d1.stderr.String(), d2.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	d1.stop(t)
	d2.stop(t)
	ctx := context.Background()
	files, err := dir.Checkpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := checkpoint.TrustFromCAs(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		if _, err := checkpoint.Verify(f, trust); err != nil {
			t.Fatalf("checkpoint %d: %v", f.Number, err)
		}
		if f.KeyLabel != "audit-checkpoint-2" {
			t.Fatalf("signed with %s", f.KeyLabel)
		}
		if i > 0 && f.Time.Sub(files[i-1].Time) < time.Second {
			t.Fatalf("checkpoints %d and %d %v apart: two in one interval", f.Number-1, f.Number, f.Time.Sub(files[i-1].Time))
		}
	}
	if err := checkpoint.CheckChain(ctx, st, files); err != nil {
		t.Fatal(err)
	}
	recs, _ := st.AuditRecords(ctx, 0, 100000)
	actions := map[string]int{}
	for _, r := range recs {
		if r.Object == "key/audit-checkpoint-2" || r.Action == checkpoint.Action {
			actions[r.Action]++
		}
	}
	if actions["key.generate"] != 1 || actions[checkpoint.ActionKey] != 1 || actions[checkpoint.Action] != len(files) {
		t.Fatalf("audit records %v for %d checkpoints", actions, len(files))
	}
	keys, err := pki.Token.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range keys {
		if k.Label == "audit-checkpoint-2" {
			n++
			if !k.Sensitive || k.Extractable || !k.NeverExtractable {
				t.Fatalf("checkpoint key attributes %+v", k)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d keys labelled audit-checkpoint-2 on the token", n)
	}

	// Served on the operations listener, not on the public one.
	d := startDaemon(t, roleTable(), "--config", p, "--roles", "tsa,checkpoint")
	code, body := get(t, d.url(server.ListenerOps, "/audit/checkpoints"))
	var list struct {
		Checkpoints []struct {
			Number int64 `json:"number"`
			Seq    int64 `json:"seq"`
		} `json:"checkpoints"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Checkpoints) < len(files) {
		t.Fatalf("GET /audit/checkpoints: %d %s", code, body)
	}
	if code, body := get(t, d.url(server.ListenerOps, "/audit/checkpoints/1")); code != 200 {
		t.Fatalf("GET /audit/checkpoints/1: %d %s", code, body)
	} else if f, err := checkpoint.Parse([]byte(body)); err != nil || f.Number != 1 {
		t.Fatalf("checkpoint 1: %v", err)
	}
	if code, body := get(t, d.url(server.ListenerOps, "/audit/checkpoints/latest")); code != 200 || !strings.Contains(body, checkpoint.Format) {
		t.Fatalf("GET latest: %d %s", code, body)
	}
	if code, body := get(t, d.url(server.ListenerOps, "/audit/checkpoints/x1")); code != 400 || !strings.Contains(body, "latest") {
		t.Fatalf("GET x1: %d %s", code, body)
	}
	if code, _ := get(t, d.url(server.ListenerOps, "/audit/checkpoints/99999")); code != 404 {
		t.Fatalf("GET 99999: %d", code)
	}
	if code, _ := get(t, d.url(server.ListenerPublic, "/audit/checkpoints")); code != 404 {
		t.Fatalf("public GET /audit/checkpoints: %d", code)
	}
	if _, body := get(t, d.url(server.ListenerOps, "/metrics")); !strings.Contains(body, `muhr_audit_checkpoints_total{result="written"}`) {
		t.Fatal("no checkpoint metrics")
	}
	if _, body := get(t, d.url(server.ListenerOps, "/healthz")); !strings.Contains(body, `"audit_checkpoint"`) {
		t.Fatalf("ops health: %s", body)
	}
}

// Without a TSA the role refuses to start; checkpoints: false keeps it out
// of the default roles.
func TestCheckpointRoleNeedsTSA(t *testing.T) {
	p := writeConfig(t, "  driver: sqlite\n  path: muhr.db\n", "audit: {checkpoints: true}\n")
	if code, stderr := runShort(t, "--config", p, "--roles", "checkpoint"); code != exitUsage || !strings.Contains(stderr, "no TSA") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	sel, err := selectRoles(roleTable(), nil, mustConfig(t, tsaSection))
	if err != nil || strings.Contains(strings.Join(roleNames(sel), ","), "checkpoint") {
		t.Fatalf("default roles without audit.checkpoints: %v %v", roleNames(sel), err)
	}
	sel, err = selectRoles(roleTable(), nil, mustConfig(t, tsaSection+"audit: {checkpoints: true}\n"))
	if err != nil || !strings.Contains(strings.Join(roleNames(sel), ","), "checkpoint") {
		t.Fatalf("default roles with audit.checkpoints: %v %v", roleNames(sel), err)
	}
}

func mustConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	c, err := config.Load(writeConfig(t, "  driver: sqlite\n  path: muhr.db\n", extra))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
