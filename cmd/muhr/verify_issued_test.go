package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/httpx"
	"github.com/muhr-pki/muhr/internal/center"
	"github.com/muhr-pki/muhr/internal/secret"
	"github.com/muhr-pki/muhr/ocsp"
)

// A qualified certificate made by the whole issuance pipeline (ceremony,
// `muhr dev issue --profile qes-person`) signs with openssl; `muhr
// verify signature` with the center's roots from --config as the only trust
// anchors, and the center's OCSP responder serving the URL its AIA names,
// says TOTAL-PASSED, qualified (QCP-n: not QSCD).
func TestVerifyQualifiedCertificateFromIssuance(t *testing.T) {
	var h atomic.Pointer[http.Handler]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hh := h.Load(); hh != nil {
			(*hh).ServeHTTP(w, r)
			return
		}
		http.Error(w, "not yet", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	dir, cfg := testCenter(t)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "public_url: http://127.0.0.1:8080", "public_url: "+srv.URL, 1)), 0o600)
	buildCenter(t, dir, cfg) // ceremony and three leaves

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	csr := filepath.Join(dir, "signer.csr")
	os.WriteFile(csr, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}), 0o600)
	id := filepath.Join(dir, "id.json")
	// No --qscd: dev issue refuses it for a CSR file (only `muhr token
	// enroll` shows a key made on a card), so this key is QCP-n.
	out, err := run(t, "dev", "issue", "--config", cfg, "--profile", "qes-person", "--csr", csr, "--identity", id)
	if err != nil {
		t.Fatalf("dev issue: %v\n%s", err, out)
	}
	certPath := filepath.Join(dir, "signer.pem")
	os.WriteFile(certPath, []byte(out), 0o600)
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPath := filepath.Join(dir, "signer.key")
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600)

	// The center's responder and CRLs behind the public URL.
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := center.OpenStore(ctx, c.Database, center.ConfigPath(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pin, err := secret.ReadFile(c.HSM.PINFile)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := pkcs11.Open(ctx, pkcs11.Config{Module: c.HSM.Module, TokenLabel: c.HSM.TokenLabel, PIN: pin, Sessions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	auth, err := ocsp.New(ctx, ocsp.Options{Store: st, Keys: tok, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	mux := httpx.NewMux()
	resp := ocsp.NewResponder(auth, nil)
	mux.Handle("POST /ocsp", resp)
	mux.HandleRaw(http.MethodGet, ocsp.GETPrefix, resp)
	mux.Handle("GET /crl/{file}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		row, err := st.GetCA(r.Context(), strings.TrimSuffix(r.PathValue("file"), ".crl"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		cert, _ := x509.ParseCertificate(row.CertDER)
		k, err := tok.Signer(r.Context(), row.KeyLabel)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		now := time.Now()
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(now.UnixNano()),
			ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour)}, cert, k)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(der)
	}))
	// What the repository role serves at the AIA caIssuers URL.
	mux.Handle("GET /ca/{file}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		row, err := st.GetCA(r.Context(), strings.TrimSuffix(r.PathValue("file"), ".crt"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Write(row.CertDER)
	}))
	var hh http.Handler = mux
	h.Store(&hh)

	doc := writeDoc(t, dir)
	sig := filepath.Join(dir, "order.p7s")
	// The issuing CA's certificate is not given: AIA caIssuers names it.
	opensslCmd(t, "cms", "-sign", "-cades", "-binary", "-in", doc, "-signer", certPath, "-inkey", keyPath, "-outform", "DER", "-out", sig)
	out, err = run(t, "verify", "signature", "--in", sig, "--content", doc, "--config", cfg)
	if err != nil || !strings.HasPrefix(out, "TOTAL-PASSED") {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"qualified: true, key on a qualified device (QSCD): false, type esign", "[ok  ] aia: fetched the issuer",
		"by OCSP " + srv.URL + "/ocsp: good"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	// A key file may sign for a certificate that claims no QSCD (a
	// certificate that claims one refuses it: TestClaimsQSCD).
	if out, err := run(t, "sign", "--in", doc, "--out", sig, "--key", keyPath, "--cert", certPath); err != nil {
		t.Fatalf("key file for a QCP-n certificate: %v\n%s", err, out)
	}
}
