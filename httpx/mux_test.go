package httpx

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// An OCSP GET carries base64, which may hold "//": ServeMux answers such a
// path with a redirect, a raw route hands it to the handler as sent.
func TestRawRouteKeepsDoubleSlash(t *testing.T) {
	const path = "/ocsp/MEUwQzBBMD8wPTAJBgUrDgMCGgUABBQ//AB+c%2Fd=="
	const tail = "MEUwQzBBMD8wPTAJBgUrDgMCGgUABBQ//AB+c/d=="

	plain := http.NewServeMux()
	plain.HandleFunc("GET /ocsp/{req...}", func(w http.ResponseWriter, r *http.Request) {})
	rec := httptest.NewRecorder()
	plain.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code/100 != 3 {
		t.Fatalf("ServeMux answered %d; the raw route exists because it redirects", rec.Code)
	}

	e := newEnv(t, slog.LevelDebug, nil)
	var got string
	e.mux.HandleRaw(http.MethodGet, "/ocsp/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = RawTail(r, "/ocsp/")
		_, _ = io.WriteString(w, "ok")
	}))
	e.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	wantStatus(t, e.get(t, path), http.StatusOK)
	if got != tail {
		t.Fatalf("tail %q, want %q", got, tail)
	}
	// HEAD goes where GET goes; the ServeMux still serves its own routes.
	wantStatus(t, e.do(t, httptest.NewRequest(http.MethodHead, path, nil)), http.StatusOK)
	wantStatus(t, e.get(t, "/healthz"), http.StatusOK)
	// The route label is the prefix, never the client's path.
	if n := e.count(t, "route", "/ocsp/", "method", "GET", "code", "200"); n != 1 {
		t.Fatalf("raw route counted %v times", n)
	}
}

func TestRawRouteMethods(t *testing.T) {
	e := newEnv(t, slog.LevelDebug, nil)
	var hit string
	mk := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = name })
	}
	e.mux.HandleRaw(http.MethodGet, "/ocsp/", mk("get"))
	e.mux.HandleRaw(http.MethodPost, "/ocsp", mk("post"))
	e.mux.HandleRaw(http.MethodGet, "/ocsp/special/", mk("special"))

	wantStatus(t, e.do(t, httptest.NewRequest(http.MethodPost, "/ocsp", nil)), http.StatusOK)
	if hit != "post" {
		t.Fatalf("POST /ocsp went to %q", hit)
	}
	wantStatus(t, e.get(t, "/ocsp/special/x//y"), http.StatusOK)
	if hit != "special" {
		t.Fatalf("longest prefix not preferred: %q", hit)
	}
	res := e.do(t, httptest.NewRequest(http.MethodDelete, "/ocsp/abc", nil))
	wantStatus(t, res, http.StatusMethodNotAllowed)
	if a := res.Header.Get("Allow"); a != "GET, HEAD" {
		t.Fatalf("Allow %q", a)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a raw route twice did not panic")
		}
	}()
	e.mux.HandleRaw(http.MethodGet, "/ocsp/", mk("again"))
}
