package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/server"
	"github.com/muhr-pki/muhr/store/sqlite"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

func postParts(t *testing.T, url string, parts map[string][]byte) (int, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for name, v := range parts {
		w, _ := mw.CreateFormFile(name, name)
		w.Write(v)
	}
	mw.Close()
	res, err := http.Post(url, mw.FormDataContentType(), &b)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// muhrd --roles validate serves POST /api/v1/validate with the center's
// roots as trust anchors, under its own body limit.
func TestValidateRoleServes(t *testing.T) {
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
		"database: {driver: sqlite, path: %s}\nhsm: {module: %s, token_label: %s, pin_file: %s}\n"+
		"validate: {enabled: true, fetch_timeout: 300ms, timeout: 2s}\n",
		dbPath, pki.SoftHSM.Module, pki.SoftHSM.Label, pki.SoftHSM.PINFile)
	p := filepath.Join(t.TempDir(), "muhrd.yaml")
	writeFile(t, p, cfg)
	d := startDaemon(t, roleTable(), "--config", p, "--roles", "validate")
	url := d.url(server.ListenerPublic, "/api/v1/validate")

	// The TSA unit's certificate chains to the center's root; its OCSP and
	// CRL URLs (the demo's public_url) do not answer here.
	code, body := postParts(t, url, map[string][]byte{"certificate": pki.TSA.Raw, "chain": pki.Issuing.Raw})
	if code != 200 || !strings.Contains(body, `"subIndication": "TRY_LATER"`) || !strings.Contains(body, `"trustAnchor": true`) {
		t.Fatalf("%d %s", code, body)
	}
	code, body = postParts(t, url, map[string][]byte{"signature": []byte("not a signature")})
	if code != 200 || !strings.Contains(body, "FORMAT_FAILURE") {
		t.Fatalf("%d %s", code, body)
	}
	// Over the listener's http.max_body_bytes (64 KiB by default) but
	// under validate.max_upload_bytes: validated (here: not a signature).
	code, body = postParts(t, url, map[string][]byte{"signature": make([]byte, 100<<10)})
	if code != 200 || !strings.Contains(body, "FORMAT_FAILURE") {
		t.Fatalf("%d %s", code, body)
	}
	d.stop(t)
}
