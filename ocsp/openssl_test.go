package ocsp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

// extRevoke finds id-pkix-ocsp-extended-revoke among the response
// extensions as openssl 3.0 prints it.
var extRevoke = regexp.MustCompile(`Response Extensions:\s*\n(\s+.*\n)*?\s+valid:`)

// openssl's client asks about a good, a revoked, a held and a never-issued
// certificate, with and without a nonce; each answer verifies against the
// root through the delegated signer included in the response, and carries
// archiveCutoff.
func TestOpenSSLStatuses(t *testing.T) {
	e := newEnv(t)
	good, goodPEM := e.leaf(t, true)
	rev, revPEM := e.leaf(t, true)
	hold, holdPEM := e.leaf(t, true)
	resumed, resumedPEM := e.leaf(t, true)
	_, unissuedPEM := e.leaf(t, false)
	reserved, reservedPEM := e.leaf(t, false)
	e.reserve(t, reserved.SerialNumber)
	revAt := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	e.setStatus(t, rev.SerialNumber, store.CertStatusRevoked, revAt, 1) // keyCompromise
	e.setStatus(t, hold.SerialNumber, store.CertStatusOnHold, revAt, 6)
	e.setStatus(t, resumed.SerialNumber, store.CertStatusOnHold, revAt, 6)
	e.setStatus(t, resumed.SerialNumber, store.CertStatusValid, time.Time{}, 0)
	_ = good
	cutoff := "OCSP Archive Cutoff:"
	for _, nonce := range []bool{false, true} {
		flag := "-nonce"
		if !nonce {
			flag = "-no_nonce"
		}
		t.Run(flag, func(t *testing.T) {
			out := e.openssl(t, flag, "-cert", goodPEM, "-url", e.url)
			mustContain(t, out, "Response verify OK", goodPEM+": good", cutoff, "Responder Id:")
			if nonce != strings.Contains(out, "OCSP Nonce:") {
				t.Errorf("nonce %v, response nonce present %v:\n%s", nonce, !nonce, out)
			}
			out = e.openssl(t, flag, "-cert", revPEM, "-url", e.url)
			mustContain(t, out, "Response verify OK", revPEM+": revoked", "Reason: keyCompromise",
				"Revocation Time: Mar  4 05:06:07 2026 GMT", cutoff)
			out = e.openssl(t, flag, "-cert", holdPEM, "-url", e.url)
			mustContain(t, out, "Response verify OK", holdPEM+": revoked", "Reason: certificateHold")
			out = e.openssl(t, flag, "-cert", resumedPEM, "-url", e.url)
			mustContain(t, out, "Response verify OK", resumedPEM+": good")
			for _, p := range []string{unissuedPEM, reservedPEM} {
				out = e.openssl(t, flag, "-cert", p, "-url", e.url)
				mustContain(t, out, "Response verify OK", p+": revoked", "Reason: certificateHold",
					"Revocation Time: Jan  1 00:00:00 1970 GMT", cutoff)
				if !extRevoke.MatchString(out) {
					t.Errorf("no extended-revoke extension (openssl 3.0 names 1.3.6.1.5.5.7.48.1.9 \"valid\"):\n%s", out)
				}
			}
			if extRevoke.MatchString(e.openssl(t, flag, "-cert", goodPEM, "-url", e.url)) {
				t.Error("extended-revoke in the answer about an issued certificate")
			}
		})
	}
	// archiveCutoff is the issuing CA certificate's notBefore.
	out := e.openssl(t, "-no_nonce", "-cert", goodPEM, "-url", e.url)
	want := "OCSP Archive Cutoff:\n" + strings.Repeat(" ", 0)
	m := regexp.MustCompile(`OCSP Archive Cutoff:\s*\n\s*(.+GMT)`).FindStringSubmatch(out)
	if m == nil || m[1] != e.p.Issuing.NotBefore.UTC().Format("Jan _2 15:04:05 2006 GMT") {
		t.Errorf("archiveCutoff %v, want the CA's notBefore %v (%s):\n%s", m, e.p.Issuing.NotBefore, want, out)
	}
}

// Three CertIDs in one request get three answers with their own statuses.
func TestOpenSSLThreeCertIDs(t *testing.T) {
	e := newEnv(t)
	_, goodPEM := e.leaf(t, true)
	rev, revPEM := e.leaf(t, true)
	_, unissuedPEM := e.leaf(t, false)
	e.setStatus(t, rev.SerialNumber, store.CertStatusRevoked, time.Now().Add(-time.Minute), 4) // superseded
	for _, flag := range []string{"-nonce", "-no_nonce"} {
		out := e.openssl(t, flag, "-cert", goodPEM, "-cert", revPEM, "-cert", unissuedPEM, "-url", e.url)
		mustContain(t, out, "Response verify OK", goodPEM+": good", revPEM+": revoked", "Reason: superseded",
			unissuedPEM+": revoked", "Jan  1 00:00:00 1970 GMT")
		if n := strings.Count(out, "Cert Status:"); n != 3 {
			t.Errorf("%s: %d Cert Status lines, want 3:\n%s", flag, n, out)
		}
	}
}

// A certificate of an issuer that is not ours: unauthorized, also when it
// comes along with one of ours.
func TestOpenSSLForeignIssuer(t *testing.T) {
	e := newEnv(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Foreign CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := x509.ParseCertificate(der)
	lt := &x509.Certificate{SerialNumber: big.NewInt(1001), Subject: pkix.Name{CommonName: "foreign leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	lder, err := x509.CreateCertificate(rand.Reader, lt, foreign, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(lder)
	fPEM := tsatest.WritePEM(t, e.dir, "foreign.pem", foreign)
	lPEM := tsatest.WritePEM(t, e.dir, "foreign-leaf.pem", leaf)
	ossl := testpki.Tool(t, "openssl")
	out, _ := runOut(ossl, "ocsp", "-issuer", fPEM, "-cert", lPEM, "-url", e.url, "-resp_text")
	mustContain(t, out, "unauthorized (6)")
	// Our issuer's name hash with a foreign key hash, and ours with a
	// foreign one, in one request.
	_, goodPEM := e.leaf(t, true)
	out, _ = runOut(ossl, "ocsp", "-issuer", e.p.IssuerPEM, "-cert", goodPEM, "-issuer", fPEM, "-cert", lPEM, "-url", e.url, "-resp_text")
	mustContain(t, out, "unauthorized (6)")
}

// A request written by openssl (-reqout) is sent as GET, raw and
// URL-encoded; openssl verifies the answer (-respin). The answer carries
// the RFC 5019 caching headers and honours If-None-Match.
func TestOpenSSLGET(t *testing.T) {
	e := newEnv(t)
	_, goodPEM := e.leaf(t, true)
	ossl := testpki.Tool(t, "openssl")
	reqPath := filepath.Join(e.dir, "req.der")
	if out, err := runOut(ossl, "ocsp", "-issuer", e.p.IssuerPEM, "-cert", goodPEM, "-no_nonce", "-reqout", reqPath); err != nil {
		t.Fatalf("openssl -reqout: %v\n%s", err, out)
	}
	req, err := os.ReadFile(reqPath)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(req)
	enc := strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(b64)
	var etag string
	for i, path := range []string{b64, enc, strings.TrimRight(b64, "="), strings.ToLower(enc[:0]) + enc} {
		resp := get(t, e.url+"/"+path, "")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/ocsp-response" {
			t.Fatalf("GET %d: %s %q", i, resp.Status, resp.Header.Get("Content-Type"))
		}
		if cc := resp.Header.Get("Cache-Control"); !regexp.MustCompile(`^max-age=\d+, public`).MatchString(cc) {
			t.Errorf("Cache-Control %q", cc)
		}
		if _, err := http.ParseTime(resp.Header.Get("Last-Modified")); err != nil {
			t.Errorf("Last-Modified %q: %v", resp.Header.Get("Last-Modified"), err)
		}
		if etag == "" {
			etag = resp.Header.Get("ETag")
		} else if resp.Header.Get("ETag") != etag {
			t.Errorf("ETag %q then %q for the same cached answer", etag, resp.Header.Get("ETag"))
		}
		respPath := writeFile(t, e.dir, "resp.der", body)
		out, err := runOut(ossl, "ocsp", "-respin", respPath, "-issuer", e.p.IssuerPEM, "-cert", goodPEM,
			"-CAfile", e.p.RootPEM, "-resp_text")
		if err != nil {
			t.Fatalf("openssl -respin: %v\n%s", err, out)
		}
		mustContain(t, out, "Response verify OK", goodPEM+": good")
	}
	if etag == "" {
		t.Fatal("no ETag")
	}
	resp := get(t, e.url+"/"+b64, etag)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %s, want 304", resp.Status)
	}
}

func get(t *testing.T, url, etag string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
