package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/cades"
	"github.com/muhr-pki/muhr/server"
	"github.com/muhr-pki/muhr/store/sqlite"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

// With the default http.max_body_bytes (64 KiB), POST /api/v1/validate
// takes uploads up to validate.max_upload_bytes (16 MiB by default): a
// signature over 1 MiB of detached content is validated, a body over
// 16 MiB is 413 naming that limit, and OCSP on the same listener still
// refuses a body over 64 KiB.
func TestValidateRouteOwnBodyLimit(t *testing.T) {
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

	// A software root given as validate.trust and a signer under it.
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	rootT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Other Root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootT, rootT, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Signer"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageContentCommitment}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafT, root, &key.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	trust := filepath.Join(t.TempDir(), "other-root.pem")
	writeFile(t, trust, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})))

	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nops_listen: 127.0.0.1:0\nlog: {level: warn}\n"+
		"database: {driver: sqlite, path: %s}\nhsm: {module: %s, token_label: %s, pin_file: %s}\n"+
		"ocsp: {enabled: true}\nvalidate: {enabled: true, fetch_timeout: 300ms, timeout: 5s, trust: [%s]}\n",
		dbPath, pki.SoftHSM.Module, pki.SoftHSM.Label, pki.SoftHSM.PINFile, trust)
	p := filepath.Join(t.TempDir(), "muhrd.yaml")
	writeFile(t, p, cfg)
	d := startDaemon(t, roleTable(), "--config", p, "--roles", "validate,ocsp")
	url := d.url(server.ListenerPublic, "/api/v1/validate")

	doc := bytes.Repeat([]byte("order 17/2026 "), (1<<20)/14+1)[:1<<20]
	sig, err := cades.Sign(context.Background(), doc, leaf, key, cades.Options{})
	if err != nil {
		t.Fatal(err)
	}
	code, body := postParts(t, url, map[string][]byte{"signature": sig, "content": doc})
	if code != 200 || !strings.Contains(body, `"detail": "SHA-256 of the content"`) ||
		!strings.Contains(body, `"detail": "ECDSA-SHA256"`) {
		t.Fatalf("1 MiB detached content: %d %.2000s", code, body)
	}
	// Over validate.max_upload_bytes: 413 with the limit, declared length
	// or streamed.
	code, body = postParts(t, url, map[string][]byte{"signature": sig, "content": make([]byte, 16<<20)})
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "over 16777216 bytes") {
		t.Fatalf("over 16 MiB: %d %s", code, body)
	}
	// 100 MB declared: refused by its Content-Length before any is read.
	req, _ := http.NewRequest(http.MethodPost, url, io.LimitReader(zeros{}, 100<<20))
	req.ContentLength = 100 << 20
	req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
	if res, err := http.DefaultClient.Do(req); err == nil {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "over 16777216 bytes") {
			t.Fatalf("100 MB declared: %d %s", res.StatusCode, b)
		}
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		w, _ := mw.CreateFormFile("content", "big")
		_, err := io.Copy(w, io.LimitReader(zeros{}, 17<<20))
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	// The server may close before the client has written all: then the
	// client reports the broken write, not the answer.
	if res, err := http.Post(url, mw.FormDataContentType(), pr); err == nil {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "over 16777216 bytes") {
			t.Fatalf("streamed over 16 MiB: %d %s", res.StatusCode, b)
		}
	}
	pr.Close()
	// OCSP keeps its 64 KiB, by POST /ocsp and POST /ocsp/...
	for _, path := range []string{"/ocsp", "/ocsp/x"} {
		res, err := http.Post(d.url(server.ListenerPublic, path), "application/ocsp-request", bytes.NewReader(make([]byte, 64<<10+1)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "65536") {
			t.Fatalf("OCSP %s over 64 KiB: %d %s", path, res.StatusCode, b)
		}
	}
	d.stop(t)
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }
