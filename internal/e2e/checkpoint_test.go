package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Through the real binaries: muhrd with audit checkpoints every second
// writes them (its own TSA, the ceremony's checkpoint key); `muhr audit
// verify` checks them; after the newest records are deleted from the
// database it fails naming the missing records against the checkpoint.
func TestCheckpointsCatchDeletedRecords(t *testing.T) {
	for _, c := range []struct{ name, db string }{
		{"SQLite", sqliteDB},
		{"Postgres", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := c.db
			if db == "" {
				db = "database:\n  driver: postgres\n  dsn: '" + needPostgres(t) + "'\n"
			}
			d := newDemoDB(t, db)
			f, err := os.OpenFile(d.cfg, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("audit: {checkpoints: true, checkpoint_interval: 1s}\n")
			f.Close()
			m := d.serve(t)
			dir := filepath.Join(d.home, "audit-checkpoints")
			deadline := time.Now().Add(30 * time.Second)
			for {
				ents, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*.json"))
				if len(ents) >= 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no two checkpoints in 30 s:\n%s", m.out.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
			// Served on the operations listener too.
			if code, body := fetch(t, "http://"+d.ops+"/audit/checkpoints/latest"); code != 200 || !strings.Contains(body, "muhr-audit-checkpoint-v1") {
				t.Fatalf("GET /audit/checkpoints/latest: %d %s", code, body)
			}
			m.stop(t)
			out := d.run(t, "audit", "verify", "--config", d.cfg)
			mm := regexp.MustCompile(`checkpoints OK: (\d+) in .*; the newest, (\d+), vouches for record (\d+)`).FindStringSubmatch(out)
			if mm == nil {
				t.Fatalf("audit verify:\n%s", out)
			}
			newest, _ := strconv.Atoi(mm[2])
			seq, _ := strconv.Atoi(mm[3])

			cdb := d.openDB(t)
			ph := "?"
			if !cdb.sqlite {
				ph = "$1"
			}
			if _, err := cdb.Exec("DELETE FROM audit_log WHERE seq >= "+ph, seq); err != nil {
				t.Fatal(err)
			}
			cmd := d.command("audit", "verify", "--config", d.cfg)
			b, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Fatalf("audit verify after deleting records %d.. passed: %v\n%s", seq, err, b)
			}
			want := fmt.Sprintf("checkpoint %d (checkpoint-%08d.json", newest, newest)
			gap := fmt.Sprintf("ends at record %d: record %d is missing", seq-1, seq)
			if !strings.Contains(string(b), want) || !strings.Contains(string(b), gap) {
				t.Fatalf("audit verify does not name the gap (%q, %q):\n%s", want, gap, b)
			}
			t.Logf("exit %d:\n%s", ee.ExitCode(), b)
		})
	}
}
