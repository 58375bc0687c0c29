package tsa_test

import (
	"bytes"
	"context"
	"encoding/asn1"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/server"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/tsa"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

// clockFunc adapts a function to tsa.Clock.
type clockFunc func(ctx context.Context) (time.Time, error)

func (f clockFunc) Now(ctx context.Context) (time.Time, error) { return f(ctx) }

var realClock = clockFunc(func(context.Context) (time.Time, error) { return time.Now(), nil })

// countingLedger counts the tokens the TSA recorded.
type countingLedger struct {
	tsa.Ledger
	n    atomic.Int64
	dups atomic.Int64 // inserts refused as a reused serial
}

func (l *countingLedger) RecordToken(ctx context.Context, t store.TSAToken) error {
	err := l.Ledger.RecordToken(ctx, t)
	if err == nil {
		l.n.Add(1)
	}
	if errors.Is(err, store.ErrDuplicateSerial) {
		l.dups.Add(1)
	}
	return err
}

type env struct {
	pki    *tsatest.PKI
	tsa    *tsa.Server
	ledger *countingLedger
	url    string
}

var extraPolicy = mustOID(tsatest.ExtraPolicy)

func mustOID(s string) asn1.ObjectIdentifier {
	var o asn1.ObjectIdentifier
	for _, p := range strings.Split(s, ".") {
		n := 0
		for _, c := range p {
			n = n*10 + int(c-'0')
		}
		o = append(o, n)
	}
	return o
}

// newEnv serves a TSA on the PKI through the muhrd server middleware.
func newEnv(t testing.TB, pki *tsatest.PKI, mod func(*tsa.Options)) *env {
	t.Helper()
	if pki == nil {
		pki = tsatest.NewPKI(t, nil)
	}
	ctx := context.Background()
	unit, err := tsa.LoadUnit(ctx, pki.Store, pki.Token, pki.TSACA, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l := &countingLedger{Ledger: tsa.StoreLedger(pki.Store)}
	o := tsa.Options{Unit: unit, Ledger: l, Clock: realClock, Accuracy: time.Second,
		Policies: []asn1.ObjectIdentifier{tsa.DefaultPolicy, extraPolicy}}
	if mod != nil {
		mod(&o)
	}
	ts, err := tsa.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{Repository: pki.Store, HTTP: config.HTTP{MaxBodyBytes: 1 << 20}})
	srv.Handle("POST /tsa", ts)
	srv.Handle("GET /tsa/healthz", ts.HealthHandler())
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &env{pki: pki, tsa: ts, ledger: l, url: hs.URL}
}

// post sends a DER request and returns the DER reply (status 200 required).
func (e *env) post(t testing.TB, der []byte) []byte {
	t.Helper()
	res, err := http.Post(e.url+"/tsa", tsa.QueryType, bytes.NewReader(der))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST /tsa: %s: %s", res.Status, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != tsa.ReplyType {
		t.Fatalf("Content-Type %q", ct)
	}
	return body
}

// run runs a tool, failing the test with its output on error.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func openssl(t testing.TB) string { return testpki.Tool(t, "openssl") }

var errBoom = errors.New("boom")

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newBatchLedger starts a batch ledger that the test closes when done.
func newBatchLedger(t testing.TB, st tsa.BatchStore) *tsa.BatchLedger {
	l := tsa.NewBatchLedger(st, 0)
	t.Cleanup(func() { _ = l.Close() })
	return l
}
