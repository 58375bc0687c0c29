package checkpoint_test

import (
	"context"
	"encoding/asn1"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/audit/checkpoint"
	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/tsa"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

type sysClock struct{}

func (sysClock) Now(context.Context) (time.Time, error) { return time.Now(), nil }

// env is a demo center (SoftHSM2 token, ceremony, real TSA in process) and
// a checkpoint directory.
type env struct {
	pki *tsatest.PKI
	tsa *tsa.Server
	dir checkpoint.Dir
	// clock is the writers' clock, moved by the test.
	mu  sync.Mutex
	now time.Time
	// failTSA makes the timestamper fail while set.
	failTSA bool
}

type backend struct {
	name string
	open func(t *testing.T) (store.Store, func(t *testing.T) store.Store)
}

// backends are SQLite and PostgreSQL; the second func opens another
// connection to the same database (a second process's view).
var backends = []backend{
	{"SQLite", func(t *testing.T) (store.Store, func(t *testing.T) store.Store) {
		st := tsatest.SQLite(t)
		return st, func(*testing.T) store.Store { return st }
	}},
	{"Postgres", func(t *testing.T) (store.Store, func(t *testing.T) store.Store) {
		st, dsn := tsatest.Postgres(t)
		return st, func(t *testing.T) store.Store { return tsatest.OpenPostgres(t, dsn) }
	}},
}

func newEnv(t *testing.T, st store.Store) *env {
	t.Helper()
	pki := tsatest.NewPKI(t, st)
	unit, err := tsa.LoadUnit(context.Background(), pki.Store, pki.Token, pki.TSACA, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ts, err := tsa.New(tsa.Options{Unit: unit, Ledger: tsa.StoreLedger(pki.Store), Clock: sysClock{}, Accuracy: time.Second,
		Policies: []asn1.ObjectIdentifier{tsa.DefaultPolicy}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.Close(context.Background()) })
	return &env{pki: pki, tsa: ts, dir: checkpoint.Dir{Path: filepath.Join(t.TempDir(), "checkpoints")},
		now: time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC)}
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func (e *env) timestamper() checkpoint.Timestamper {
	return checkpoint.TimestamperFunc(func(ctx context.Context, req []byte) ([]byte, error) {
		e.mu.Lock()
		fail := e.failTSA
		e.mu.Unlock()
		if fail {
			return nil, errors.New("TSA unreachable (test)")
		}
		return e.tsa.Respond(ctx, req, "checkpoint test"), nil
	})
}

// writer is one process's checkpoint writer on st.
func (e *env) writer(st store.Store, holder string) *checkpoint.Writer {
	return &checkpoint.Writer{Store: st, Keys: e.pki.Token, KeyLabel: "audit-checkpoint", KeyAlg: hsm.ECDSAP256,
		TSA: e.timestamper(), Dir: e.dir, Interval: time.Minute, Holder: holder, Actor: "muhrd", Clock: e.clock}
}

func tick(t *testing.T, w *checkpoint.Writer) *checkpoint.File {
	t.Helper()
	f, err := w.Tick(context.Background())
	if err != nil {
		t.Fatalf("Tick: %v", err)
	}
	return f
}

func files(t *testing.T, d checkpoint.Dir) []*checkpoint.File {
	t.Helper()
	fs, err := d.Checkpoints(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(testpki.Tool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
