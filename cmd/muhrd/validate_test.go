package main

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/server"
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
	pki, _, p := demoCenter(t, "validate: {enabled: true, fetch_timeout: 300ms, timeout: 2s}\n")
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

// upload is a multipart body of one "signature" part of n bytes.
func upload(t *testing.T, n int) ([]byte, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("signature", "sig.p7s")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(bytes.Repeat([]byte{'a'}, n))
	_ = mw.Close()
	return body.Bytes(), mw.FormDataContentType()
}

// A document upload may take validate.upload_timeout to arrive, far more
// than http.read_timeout (that it still bounds other routes is
// httpx.TestLongUploadOutlastsReadTimeout); past upload_timeout it is cut
// off.
func TestValidateSlowUpload(t *testing.T) {
	_, _, p := demoCenter(t, "http: {read_timeout: 300ms, write_timeout: 300ms}\n"+
		"validate: {enabled: true, upload_timeout: 2s, timeout: 2s}\n")
	d := startDaemon(t, roleTable(), "--config", p, "--roles", "validate")
	addr := strings.TrimPrefix(d.url(server.ListenerPublic, ""), "http://")
	body, ct := upload(t, 200<<10)
	if got := testpki.SlowPOST(t, addr, "/api/v1/validate", ct, body, 1200*time.Millisecond); got != "HTTP/1.1 200 OK" {
		t.Errorf("200 KiB over 1.2 s with a 300ms read timeout: %q, want 200 (a FORMAT_FAILURE report)", got)
	}
	if got := testpki.SlowPOST(t, addr, "/api/v1/validate", ct, body, 3500*time.Millisecond); strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Errorf("200 KiB over 3.5 s with a 2 s upload_timeout: %q, want it cut off", got)
	}
}
