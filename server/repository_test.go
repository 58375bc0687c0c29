package server

import (
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/store"
)

func TestCACertDER(t *testing.T) {
	env := newTestEnv(t, nil)
	res := env.do(t, http.MethodGet, "/ca/root.crt", nil)
	body := wantStatus(t, res, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); ct != "application/pkix-cert" {
		t.Errorf("Content-Type %q", ct)
	}
	if body != string(env.repo.cas["root"].CertDER) {
		t.Errorf("body % x", body)
	}
	if got := res.Header.Get("Content-Length"); got != "5" {
		t.Errorf("Content-Length %q", got)
	}
	if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options %q", got)
	}
}

func TestCACertPEM(t *testing.T) {
	env := newTestEnv(t, nil)
	res := env.do(t, http.MethodGet, "/ca/root.pem", nil)
	body := wantStatus(t, res, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); ct != "application/x-pem-file" {
		t.Errorf("Content-Type %q", ct)
	}
	blk, rest := pem.Decode([]byte(body))
	if blk == nil || blk.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("not one CERTIFICATE block: %q", body)
	}
	if string(blk.Bytes) != string(env.repo.cas["root"].CertDER) {
		t.Errorf("PEM holds % x", blk.Bytes)
	}
}

func TestCACertHead(t *testing.T) {
	env := newTestEnv(t, nil)
	res := env.do(t, http.MethodHead, "/ca/root.crt", nil)
	if body := wantStatus(t, res, http.StatusOK); body != "" {
		t.Errorf("HEAD body %q", body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/pkix-cert" {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestUnknownID(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, target := range []string{"/ca/nope.crt", "/ca/nope.pem", "/crl/nope.crl", "/crl/root.crl"} {
		res := env.do(t, http.MethodGet, target, nil)
		body := wantStatus(t, res, http.StatusNotFound)
		wantPlainText(t, res)
		if !strings.Contains(body, "nope") && !strings.Contains(body, "root") {
			t.Errorf("%s: reason %q does not name the id", target, body)
		}
	}
}

// Bad ids are refused before the repository is asked.
func TestBadID(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, target := range []string{
		"/ca/Root.crt",
		"/ca/ro_ot.crt",
		"/ca/r%C3%B6ot.crt",
		"/ca/a%2Fb.crt",
		"/ca/a%00b.crt",
		"/ca/.crt",
		"/ca/" + strings.Repeat("a", maxIDLen+1) + ".pem",
		"/crl/ROOT.crl",
		"/crl/a.b.crl",
	} {
		res := env.do(t, http.MethodGet, target, nil)
		body := wantStatus(t, res, http.StatusBadRequest)
		wantPlainText(t, res)
		if !strings.HasPrefix(body, "bad CA id") {
			t.Errorf("%s: reason %q", target, body)
		}
	}
	if n := env.repo.calls.Load(); n != 0 {
		t.Errorf("repository called %d times for bad ids", n)
	}
}

func TestUnknownExtension(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, target := range []string{"/ca/root", "/ca/root.der", "/ca/root.crl", "/crl/root.crt"} {
		wantStatus(t, env.do(t, http.MethodGet, target, nil), http.StatusNotFound)
	}
	if n := env.repo.calls.Load(); n != 0 {
		t.Errorf("repository called %d times", n)
	}
}

// A 500 names no internals; the log keeps them.
func TestRepositoryErrors(t *testing.T) {
	env := newTestEnv(t, nil)
	env.repo.err = errors.New("pq: password authentication failed for user muhr at db.internal:5432")
	res := env.do(t, http.MethodGet, "/ca/root.crt", nil)
	body := wantStatus(t, res, http.StatusInternalServerError)
	wantPlainText(t, res)
	if strings.Contains(body, "db.internal") || strings.TrimSpace(body) != "internal error" {
		t.Errorf("500 body %q", body)
	}
	if !strings.Contains(env.logs.String(), "db.internal") {
		t.Error("underlying error not logged")
	}

	env.repo.err = fmt.Errorf("get ca: %w", store.ErrUnavailable)
	res = env.do(t, http.MethodGet, "/crl/root.crl", nil)
	wantStatus(t, res, http.StatusServiceUnavailable)
	if res.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}

func TestCRL(t *testing.T) {
	thisUpdate := testNow.Add(-time.Hour)
	cases := []struct {
		name       string
		nextUpdate time.Time
		wantCC     string
	}{
		{"next update soon bounds max-age", testNow.Add(2 * time.Minute), "public, max-age=120"},
		{"cap applies", testNow.Add(7 * 24 * time.Hour), "public, max-age=300"},
		{"past next update", testNow.Add(-time.Minute), "no-cache"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, nil)
			env.repo.crls["root"] = store.CRL{
				IssuerID: "root", Number: big.NewInt(3),
				ThisUpdate: thisUpdate, NextUpdate: tc.nextUpdate,
				DER: []byte{0x30, 0x00},
			}
			res := env.do(t, http.MethodGet, "/crl/root.crl", nil)
			body := wantStatus(t, res, http.StatusOK)
			if body != "\x30\x00" {
				t.Errorf("body % x", body)
			}
			h := res.Header
			if ct := h.Get("Content-Type"); ct != "application/pkix-crl" {
				t.Errorf("Content-Type %q", ct)
			}
			if lm := h.Get("Last-Modified"); lm != thisUpdate.Format(http.TimeFormat) {
				t.Errorf("Last-Modified %q, want %q", lm, thisUpdate.Format(http.TimeFormat))
			}
			if cc := h.Get("Cache-Control"); cc != tc.wantCC {
				t.Errorf("Cache-Control %q, want %q", cc, tc.wantCC)
			}
		})
	}
}

func TestCRLNotModified(t *testing.T) {
	env := newTestEnv(t, nil)
	thisUpdate := testNow.Add(-time.Hour)
	env.repo.crls["root"] = store.CRL{IssuerID: "root", Number: big.NewInt(1),
		ThisUpdate: thisUpdate, NextUpdate: testNow.Add(time.Hour), DER: []byte{0x30, 0x00}}
	req, _ := http.NewRequest(http.MethodGet, "/crl/root.crl", nil)
	req.Header.Set("If-Modified-Since", thisUpdate.Format(http.TimeFormat))
	res := env.doReq(t, req)
	if body := wantStatus(t, res, http.StatusNotModified); body != "" {
		t.Errorf("304 body %q", body)
	}
}

func TestCRLCacheControl(t *testing.T) {
	now := testNow
	for _, tc := range []struct {
		next time.Time
		max  time.Duration
		want string
	}{
		{now.Add(90 * time.Second), 5 * time.Minute, "public, max-age=90"},
		{now.Add(90*time.Second + 900*time.Millisecond), 5 * time.Minute, "public, max-age=90"},
		{now.Add(time.Hour), 5 * time.Minute, "public, max-age=300"},
		{now.Add(500 * time.Millisecond), 5 * time.Minute, "no-cache"},
		{now, 5 * time.Minute, "no-cache"},
	} {
		if got := crlCacheControl(now, tc.next, tc.max); got != tc.want {
			t.Errorf("next %v: %q, want %q", tc.next.Sub(now), got, tc.want)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, target := range []string{"/ca/root.crt", "/crl/root.crl", "/healthz"} {
		res := env.do(t, http.MethodPost, target, strings.NewReader("x"))
		wantStatus(t, res, http.StatusMethodNotAllowed)
		if allow := res.Header.Get("Allow"); !strings.Contains(allow, "GET") {
			t.Errorf("%s: Allow %q", target, allow)
		}
	}
	if n := env.repo.calls.Load(); n != 0 {
		t.Errorf("repository called %d times", n)
	}
}

func TestValidID(t *testing.T) {
	for _, id := range []string{"root", "issuing-1", "0", strings.Repeat("a", maxIDLen)} {
		if err := validID(id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	for _, id := range []string{"", "Root", "a b", "a.b", "a/b", "ä", strings.Repeat("a", maxIDLen+1)} {
		if validID(id) == nil {
			t.Errorf("%q accepted", id)
		}
	}
}
