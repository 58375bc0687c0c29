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

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/server"
	"github.com/muhr-pki/muhr/store/sqlite"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

// muhrd --roles ocsp on the real parts answers openssl's client at the URL
// certificates name (POST /ocsp), GET with "//" in the base64 through the
// whole middleware stack without a redirect, and reports the signer keys.
func TestOCSPRoleServes(t *testing.T) {
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
		"database: {driver: sqlite, path: %s}\nhsm: {module: %s, token_label: %s, pin_file: %s}\nocsp: {enabled: true}\n",
		dbPath, pki.SoftHSM.Module, pki.SoftHSM.Label, pki.SoftHSM.PINFile)
	p := filepath.Join(t.TempDir(), "muhrd.yaml")
	writeFile(t, p, cfg)
	d := startDaemon(t, roleTable(), "--config", p, "--roles", "ocsp")

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
