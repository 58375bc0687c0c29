package checkpoint_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
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
	"github.com/muhr-pki/muhr/store"
)

// A checkpoint is written when the lease is free, then once per interval
// of the (moved) clock; each verifies, is audited, and the chain holds it.
func TestWriterSchedule(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st, _ := b.open(t)
			e := newEnv(t, st)
			w := e.writer(st, "p1")
			f1 := tick(t, w)
			if f1 == nil || f1.Number != 1 {
				t.Fatalf("first tick wrote %+v", f1)
			}
			e.advance(30 * time.Second)
			if f := tick(t, w); f != nil {
				t.Fatalf("half an interval later a checkpoint was written: %+v", f)
			}
			e.advance(30 * time.Second)
			f2 := tick(t, w)
			if f2 == nil || f2.Number != 2 || f2.Seq <= f1.Seq {
				t.Fatalf("one interval later: %+v (first at seq %d)", f2, f1.Seq)
			}
			trust, err := checkpoint.TrustFromCAs(context.Background(), st)
			if err != nil {
				t.Fatal(err)
			}
			all := files(t, e.dir)
			if len(all) != 2 {
				t.Fatalf("%d files", len(all))
			}
			for _, f := range all {
				if _, err := checkpoint.Verify(f, trust); err != nil {
					t.Fatalf("checkpoint %d: %v", f.Number, err)
				}
			}
			if err := checkpoint.CheckChain(context.Background(), st, all); err != nil {
				t.Fatal(err)
			}
			if _, err := audit.Verify(context.Background(), st); err != nil {
				t.Fatal(err)
			}
			recs, _ := st.AuditRecords(context.Background(), 0, 10000)
			n := 0
			for _, r := range recs {
				if r.Action == checkpoint.Action {
					n++
				}
			}
			if n != 2 {
				t.Fatalf("%d audit.checkpoint records, want 2", n)
			}
			if err := w.Health(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The files verify with openssl alone: the signature with the embedded
// public key, the token over the signed bytes against the root.
func TestCheckpointVerifiesWithOpenSSL(t *testing.T) {
	st, _ := backends[0].open(t)
	e := newEnv(t, st)
	f := tick(t, e.writer(st, "p1"))
	dir := t.TempDir()
	dec := func(s string) []byte {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	signed := write(t, dir, "signed.bin", dec(f.Signed))
	sig := write(t, dir, "sig.der", dec(f.Signature))
	tok := write(t, dir, "token.der", dec(f.TimestampToken))
	pub := write(t, dir, "pub.pem", []byte(f.PublicKey))
	if out := run(t, "openssl", "dgst", "-sha256", "-verify", pub, "-signature", sig, signed); !strings.Contains(out, "Verified OK") {
		t.Fatalf("openssl dgst: %s", out)
	}
	if out := run(t, "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-digest", "sha256",
		"-in", signed, "-sigfile", sig); !strings.Contains(out, "Signature Verified Successfully") {
		t.Fatalf("openssl pkeyutl: %s", out)
	}
	if out := run(t, "openssl", "ts", "-verify", "-data", signed, "-in", tok, "-token_in", "-CAfile", e.pki.RootPEM,
		"-untrusted", e.pki.ChainPEM); !strings.Contains(out, "Verification: OK") {
		t.Fatalf("openssl ts -verify: %s", out)
	}
	if out := run(t, "openssl", "ts", "-reply", "-in", tok, "-token_in", "-text"); !strings.Contains(out, "Hash Algorithm: sha256") {
		t.Fatalf("openssl ts -reply -text: %s", out)
	}
	// A changed byte of the signed text fails both.
	b, _ := os.ReadFile(signed)
	b[len(b)-2] ^= 1
	os.WriteFile(signed, b, 0o600)
	if out, err := execOut("openssl", "dgst", "-sha256", "-verify", pub, "-signature", sig, signed); err == nil {
		t.Fatalf("openssl dgst accepted changed bytes: %s", out)
	}
	if out, err := execOut("openssl", "ts", "-verify", "-data", signed, "-in", tok, "-token_in", "-CAfile", e.pki.RootPEM,
		"-untrusted", e.pki.ChainPEM); err == nil {
		t.Fatalf("openssl ts accepted changed bytes: %s", out)
	}
	// And so does Verify for a changed field.
	trust, _ := checkpoint.TrustFromCAs(context.Background(), st)
	g := *f
	g.Seq++
	if _, err := checkpoint.Verify(&g, trust); !errors.Is(err, checkpoint.ErrInvalid) {
		t.Fatalf("changed seq: %v", err)
	}
}

// Two processes polling on one database (and one directory) write one
// checkpoint per interval between them, also when they tick at once.
func TestTwoWritersOneCheckpointPerInterval(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st, second := b.open(t)
			e := newEnv(t, st)
			ws := []*checkpoint.Writer{e.writer(st, "p1"), e.writer(second(t), "p2")}
			for range 3 { // intervals
				for range 4 { // polls within one interval, both at once
					var wg sync.WaitGroup
					for _, w := range ws {
						wg.Go(func() {
							if _, err := w.Tick(context.Background()); err != nil {
								t.Error(err)
							}
						})
					}
					wg.Wait()
					e.advance(15 * time.Second)
				}
			}
			all := files(t, e.dir)
			if len(all) != 3 {
				t.Fatalf("%d checkpoints in 3 intervals, want 3", len(all))
			}
			for i := 1; i < len(all); i++ {
				if d := all[i].Time.Sub(all[i-1].Time); d < time.Minute {
					t.Fatalf("checkpoints %d and %d only %v apart", all[i-1].Number, all[i].Number, d)
				}
			}
		})
	}
}

// No timestamp, no checkpoint: the attempt fails, health says so, the
// lease is given up so the other process retries at its next poll.
func TestNoCheckpointWithoutTimestamp(t *testing.T) {
	st, _ := backends[0].open(t)
	e := newEnv(t, st)
	w1, w2 := e.writer(st, "p1"), e.writer(st, "p2")
	e.failTSA = true
	if _, err := w1.Tick(context.Background()); err == nil || !strings.Contains(err.Error(), "timestamp") {
		t.Fatalf("tick without a TSA: %v", err)
	}
	if err := w1.Health(context.Background()); err == nil {
		t.Fatal("health is fine after a failed checkpoint")
	}
	if n, _ := e.dir.Numbers(); len(n) != 0 {
		t.Fatalf("files %v written without a timestamp", n)
	}
	e.failTSA = false
	if f := tick(t, w2); f == nil {
		t.Fatal("the other process did not retry at once")
	}
	if f := tick(t, w1); f != nil {
		t.Fatal("a second checkpoint in the same interval")
	}
	if err := w1.Health(context.Background()); err != nil {
		t.Fatalf("health after the other process wrote: %v", err)
	}
}

// Deleting the newest records and rewriting the whole chain are caught
// against the checkpoints; so is a writer asked to sign such a chain.
func TestChainTamperCaught(t *testing.T) {
	st, _ := backends[0].open(t)
	e := newEnv(t, st)
	w := e.writer(st, "p1")
	f := tick(t, w)
	ctx := context.Background()
	all := files(t, e.dir)

	// A chain cut short: a store view without the records from seq on.
	cut := cutReader{Reader: st, end: f.Seq - 3}
	err := checkpoint.CheckChain(ctx, cut, all)
	var cm *checkpoint.ChainMismatch
	if !errors.As(err, &cm) || cm.Got != nil || cm.ChainEnd != f.Seq-3 {
		t.Fatalf("deleted newest records: %v", err)
	}
	for _, want := range []string{"checkpoint 1", "records " + itoa(f.Seq-2) + ".." + itoa(f.Seq) + " are missing"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("message %q does not name %q", err, want)
		}
	}
	// A chain rewritten and re-hashed from the first record.
	re := rehashed(t, st)
	if _, err := audit.Verify(ctx, re); err != nil {
		t.Fatalf("the rewritten chain is consistent on its own: %v", err)
	}
	err = checkpoint.CheckChain(ctx, re, all)
	if !errors.As(err, &cm) || cm.Got == nil || !strings.Contains(err.Error(), "rewritten") ||
		!strings.Contains(err.Error(), "record "+itoa(f.Seq)) {
		t.Fatalf("rewritten chain: %v", err)
	}
	// The writer refuses to sign a chain that does not extend its last checkpoint.
	w2 := e.writer(nil, "p2")
	w2.Store = rewrittenStore{Store: st, r: re}
	e.advance(2 * time.Minute)
	if _, err := w2.Tick(ctx); err == nil || !errors.Is(err, audit.ErrHeadMismatch) {
		t.Fatalf("writer on a rewritten chain: %v", err)
	}
}

func itoa(n int64) string { return fmtInt(n) }

// cutReader hides the records after end, as if they were deleted.
type cutReader struct {
	store.Reader
	end int64
}

func (c cutReader) AuditRecords(ctx context.Context, after int64, limit int) ([]store.AuditRecord, error) {
	recs, err := c.Reader.AuditRecords(ctx, after, limit)
	var out []store.AuditRecord
	for _, r := range recs {
		if r.Seq <= c.end {
			out = append(out, r)
		}
	}
	return out, err
}

// memReader serves a fixed chain.
type memReader struct {
	store.Reader
	recs []store.AuditRecord
}

func (m memReader) AuditRecords(_ context.Context, after int64, limit int) ([]store.AuditRecord, error) {
	var out []store.AuditRecord
	for _, r := range m.recs {
		if r.Seq > after && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

// rehashed is st's chain with record 1 changed and every record sealed
// again: consistent, but not the chain the checkpoints vouch for.
func rehashed(t *testing.T, st store.Store) memReader {
	t.Helper()
	recs, err := st.AuditRecords(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditRecord
	var last *store.AuditRecord
	for i, r := range recs {
		e := audit.Entry{Actor: r.Actor, Action: r.Action, Object: r.Object, Details: r.Details}
		if i == 0 {
			e.Actor = "intruder"
		}
		n, err := audit.Seal(last, r.Time, e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
		last = &out[len(out)-1]
	}
	if bytes.Equal(out[len(out)-1].Hash, recs[len(recs)-1].Hash) {
		t.Fatal("rehash changed nothing")
	}
	return memReader{Reader: st, recs: out}
}

type rewrittenStore struct {
	store.Store
	r memReader
}

func (s rewrittenStore) AuditRecords(ctx context.Context, after int64, limit int) ([]store.AuditRecord, error) {
	return s.r.AuditRecords(ctx, after, limit)
}

// A writer killed at any instant leaves no half file under a final name:
// a child process writes checkpoints in a loop and is killed -9; every
// final file parses, and the temporary files it left are ignored.
func TestKilledWriterLeavesNoHalfFile(t *testing.T) {
	if dir := os.Getenv("CHECKPOINT_CHILD_DIR"); dir != "" {
		childWrite(dir)
		return
	}
	dir := filepath.Join(t.TempDir(), "cp")
	for round := range 5 {
		cmd := execCommand(os.Args[0], "-test.run=^TestKilledWriterLeavesNoHalfFile$")
		cmd.Env = append(os.Environ(), "CHECKPOINT_CHILD_DIR="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Killed once it is writing (a file more than before), a little
		// later each round, so the kill lands at different points.
		before, _ := checkpoint.Dir{Path: dir}.Numbers()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if ns, _ := (checkpoint.Dir{Path: dir}).Numbers(); len(ns) > len(before) {
				break
			}
		}
		time.Sleep(time.Duration(round*7) * time.Millisecond)
		_ = cmd.Process.Kill() // SIGKILL
		_ = cmd.Wait()
	}
	d := checkpoint.Dir{Path: dir}
	ns, err := d.Numbers()
	if err != nil || len(ns) == 0 {
		t.Fatalf("no files written by the children: %v", err)
	}
	if _, err := d.Checkpoints(context.Background()); err != nil {
		t.Fatalf("a final file is broken: %v", err)
	}
	for i, n := range ns {
		if n != int64(i+1) {
			t.Fatalf("numbers %v are not 1..%d", ns, len(ns))
		}
	}
	// A file cut short under a final name (not by the writer) is reported.
	b, _ := d.Read(ns[0])
	os.WriteFile(filepath.Join(dir, "checkpoint-99999999.json"), b[:len(b)/2], 0o600)
	if _, err := d.Checkpoints(context.Background()); err == nil || !strings.Contains(err.Error(), "checkpoint-99999999.json") {
		t.Fatalf("a cut file: %v", err)
	}
	// The next writer clears temporary files older than an interval.
	os.WriteFile(filepath.Join(dir, ".tmp-checkpoint-old"), []byte("{"), 0o600)
	d.CleanTemp(time.Now().Add(time.Hour), time.Minute)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Fatalf("temporary file %s left", e.Name())
		}
	}
}

// childWrite writes big checkpoint files until killed.
func childWrite(dir string) {
	d := checkpoint.Dir{Path: dir}
	pad := strings.Repeat("A", 1<<20)
	for {
		n, err := d.Next()
		if err != nil {
			os.Exit(3)
		}
		f := &checkpoint.File{Format: checkpoint.Format, Number: n, Seq: n, Hash: strings.Repeat("00", 32),
			Signed: base64.StdEncoding.EncodeToString([]byte(pad)), Time: time.Now()}
		if err := d.Write(f); err != nil {
			os.Exit(4)
		}
	}
}

// A writer whose TSA is another muhrd's (audit.checkpoint_tsa_url) gets
// its token over HTTP; a TSA answering garbage or an HTTP error writes no
// checkpoint.
func TestHTTPTimestamper(t *testing.T) {
	st, _ := backends[0].open(t)
	e := newEnv(t, st)
	mux := http.NewServeMux()
	mux.Handle("POST /tsa", e.tsa)
	mux.HandleFunc("POST /broken", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("not DER")) })
	hs := httptest.NewServer(mux)
	defer hs.Close()
	w := e.writer(st, "p1")
	w.TSA = checkpoint.HTTPTimestamper{URL: hs.URL + "/broken"}
	if _, err := w.Tick(context.Background()); err == nil {
		t.Fatal("a checkpoint with a garbage timestamp")
	}
	w.TSA = checkpoint.HTTPTimestamper{URL: hs.URL + "/missing"}
	if _, err := w.Tick(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP 405") && !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("a TSA answering 404: %v", err)
	}
	if n, _ := e.dir.Numbers(); len(n) != 0 {
		t.Fatalf("files %v", n)
	}
	w.TSA = checkpoint.HTTPTimestamper{URL: hs.URL + "/tsa"}
	f := tick(t, w)
	trust, _ := checkpoint.TrustFromCAs(context.Background(), st)
	if v, err := checkpoint.Verify(f, trust); err != nil || !strings.Contains(v.TSA, "Time-Stamping Unit") {
		t.Fatalf("checkpoint over HTTP: %+v %v", v, err)
	}
}
