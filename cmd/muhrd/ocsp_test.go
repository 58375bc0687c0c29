package main

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/server"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/sqlite"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

// startOCSP runs the demo ceremony into a new SQLite database and starts
// muhrd --roles ocsp on it with the given ocsp: section; the store is the
// test's own connection to that database.
func startOCSP(t *testing.T, ocspYAML string) (*tsatest.PKI, store.Store, *daemon) {
	t.Helper()
	return startOCSPOwning(t, false, ocspYAML)
}

// startOCSPOwning is startOCSP with ownsProcess as main passes it.
func startOCSPOwning(t *testing.T, ownsProcess bool, ocspYAML string) (*tsatest.PKI, store.Store, *daemon) {
	t.Helper()
	pki, st, p := demoCenter(t, ocspYAML)
	return pki, st, startDaemonOwning(t, ownsProcess, roleTable(), "--config", p, "--roles", "ocsp")
}

// demoCenter runs the demo ceremony into a new SQLite database and writes
// a muhrd.yaml for it (loopback listeners, log level warn, the ceremony's
// token) with extraYAML appended; it returns the PKI, the test's own store
// connection and the config's path.
func demoCenter(t *testing.T, extraYAML string) (*tsatest.PKI, store.Store, string) {
	t.Helper()
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
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nops_listen: 127.0.0.1:0\nlog: {level: warn}\n"+
		"database: {driver: sqlite, path: %s}\nhsm: {module: %s, token_label: %s, pin_file: %s}\n",
		dbPath, pki.SoftHSM.Module, pki.SoftHSM.Label, pki.SoftHSM.PINFile)
	p := filepath.Join(t.TempDir(), "muhrd.yaml")
	writeFile(t, p, cfg+extraYAML)
	return pki, st, p
}

// muhrd --roles ocsp on the real parts answers openssl's client at the URL
// certificates name (POST /ocsp), GET with "//" in the base64 through the
// whole middleware stack without a redirect, and reports the signer keys.
func TestOCSPRoleServes(t *testing.T) {
	pki, _, d := startOCSP(t, "ocsp: {enabled: true}\n")

	want := `{"status":"ok","db":"ok","hsm":"ok","ocsp_status":"ok"}` + "\n"
	if code, body := get(t, d.url(server.ListenerPublic, "/healthz")); code != 200 || body != want {
		t.Fatalf("/healthz %d %s", code, body)
	}
	// The TSA unit's certificate is one qca-demo issued: good.
	tsaPEM := tsatest.WritePEM(t, t.TempDir(), "tsa.pem", pki.TSA)
	out, err := exec.Command(testpki.Tool(t, "openssl"), "ocsp", "-issuer", pki.IssuerPEM, "-cert", tsaPEM,
		"-url", d.url(server.ListenerPublic, "/ocsp"), "-CAfile", pki.RootPEM).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Response verify OK") || !strings.Contains(string(out), tsaPEM+": good") {
		t.Fatalf("openssl ocsp: %v\n%s", err, out)
	}
	var path string
	var serial *big.Int
	for s := int64(1); s < 50000 && path == ""; s++ {
		serial = big.NewInt(s * 104729)
		req, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: serial}, pki.Issuing, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b64 := base64.StdEncoding.EncodeToString(req); strings.Contains(b64, "//") {
			path = b64
		}
	}
	if path == "" {
		t.Fatal("no request whose base64 holds //")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(d.url(server.ListenerPublic, "/ocsp/"+path))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	r, err := xocsp.ParseResponse(b, pki.Issuing)
	if res.StatusCode != 200 || err != nil || r.SerialNumber.Cmp(serial) != 0 || r.Status != xocsp.Revoked {
		t.Fatalf("GET with //: %s %v %+v", res.Status, err, r)
	}
	if !strings.HasPrefix(res.Header.Get("Cache-Control"), "max-age=") || res.Header.Get("ETag") == "" {
		t.Errorf("GET headers %v", res.Header)
	}
}

// A revocation committed by another process (here: another connection
// through ca.Revoker) reaches muhrd's OCSP answers without a restart and
// long before the cache's re-sign schedule, through the store's status feed.
func TestOCSPFollowsTheStatusFeed(t *testing.T) {
	// validity 24h: without the feed the cached "good" would stand for hours.
	pki, st, d := startOCSP(t, "ocsp: {enabled: true, validity: 24h}\n")

	status := func() int {
		t.Helper()
		req, err := xocsp.CreateRequest(pki.TSA, pki.Issuing, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.Post(d.url(server.ListenerPublic, "/ocsp"), "application/ocsp-request", strings.NewReader(string(req)))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		r, err := xocsp.ParseResponse(b, pki.Issuing)
		if err != nil {
			t.Fatalf("parse OCSP response: %v", err)
		}
		return r.Status
	}
	if s := status(); s != xocsp.Good {
		t.Fatalf("before revocation: status %d, want good", s)
	}
	rv, err := ca.NewRevoker(ca.RevokerOptions{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	reason, err := ca.ParseReason("keyCompromise")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rv.Revoke(context.Background(), pki.TSACA, pki.TSA.SerialNumber, reason, nil, "test"); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	deadline := revoked.Add(15 * time.Second) // generous for a loaded CI machine; the poll is 250 ms
	for status() != xocsp.Revoked {
		if time.Now().After(deadline) {
			t.Fatal("revocation not visible in OCSP 15 s after it committed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("revocation visible in OCSP %v after the commit", time.Since(revoked).Round(time.Millisecond))
}
