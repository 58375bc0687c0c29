package httpx

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func mountEcho(e *env) *int {
	calls := new(int)
	e.mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		*calls++
		b, ok := ReadBody(w, r)
		if !ok {
			return
		}
		_, _ = w.Write(b)
	})
	return calls
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, slog.LevelDebug, nil) // MaxBodyBytes 64
	calls := mountEcho(e)
	atLimit := strings.Repeat("a", 64)
	over := strings.Repeat("b", 65)

	if b := wantStatus(t, e.do(t, httptest.NewRequest(http.MethodPost, "/echo", strings.NewReader(atLimit))), 200); b != atLimit {
		t.Fatalf("echo %q", b)
	}
	before := *calls
	wantStatus(t, e.do(t, httptest.NewRequest(http.MethodPost, "/echo", strings.NewReader(over))), 413)
	if *calls != before {
		t.Error("handler ran for a body refused by Content-Length")
	}
	req := httptest.NewRequest(http.MethodPost, "/echo", io.MultiReader(strings.NewReader(over)))
	if b := wantStatus(t, e.do(t, req), 413); !strings.Contains(b, "64 bytes") {
		t.Errorf("reason %q", b)
	}
	// Refused before routing by Content-Length: no route yet.
	if e.count(t, "listener", "public", "route", "/echo", "code", "413") != 1 ||
		e.count(t, "listener", "public", "route", "unmatched", "code", "413") != 1 {
		t.Error("413s not counted")
	}
	// Over a real connection an endless body is answered and the
	// connection closed rather than drained.
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	res, err := http.Post(ts.URL+"/echo", "application/octet-stream", io.MultiReader(strings.NewReader(over), zeros{}))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	wantStatus(t, res, 413)
	if !res.Close {
		t.Error("connection kept open after a body over the limit")
	}
}

// The access log: quick successes at debug only, 5xx at warn, slow
// requests at info; never bodies or query strings.
func TestAccessLogLevels(t *testing.T) {
	e := newEnv(t, slog.LevelInfo, func(o *Options) { o.SlowRequest = 50 * time.Millisecond })
	mountEcho(e)
	e.mux.HandleFunc("GET /fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "x", 503) })
	e.mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) { time.Sleep(60 * time.Millisecond) })

	wantStatus(t, e.do(t, httptest.NewRequest(http.MethodPost, "/echo?token=QUERYSECRET", strings.NewReader("BODYSECRET"))), 200)
	if l := e.logs.String(); l != "" {
		t.Fatalf("a quick success was logged at info: %s", l)
	}
	wantStatus(t, e.get(t, "/fail"), 503)
	if l := e.logs.String(); !contains(l, `"level":"WARN"`, `"path":"/fail"`, `"status":503`, `"request_id":"`, `"listener":"public"`) {
		t.Fatalf("5xx not logged at warn: %s", l)
	}
	wantStatus(t, e.get(t, "/slow"), 200)
	if l := e.logs.String(); !contains(l, `"level":"INFO"`, `"path":"/slow"`) {
		t.Fatalf("slow request not logged at info: %s", l)
	}

	dbg := newEnv(t, slog.LevelDebug, nil)
	mountEcho(dbg)
	wantStatus(t, dbg.do(t, httptest.NewRequest(http.MethodPost, "/echo?token=QUERYSECRET", strings.NewReader("BODYSECRET"))), 200)
	l := dbg.logs.String()
	if !contains(l, `"level":"DEBUG"`, `"msg":"http request"`, `"method":"POST"`, `"path":"/echo"`, `"route":"/echo"`, `"status":200`, `"duration":`) {
		t.Fatalf("debug access line incomplete: %s", l)
	}
	if strings.Contains(l, "BODYSECRET") || strings.Contains(l, "QUERYSECRET") {
		t.Fatalf("body or query logged: %s", l)
	}
}

func TestRequestID(t *testing.T) {
	e := newEnv(t, slog.LevelDebug, nil)
	var seen string
	e.mux.HandleFunc("GET /id", func(w http.ResponseWriter, r *http.Request) { seen = RequestID(r.Context()) })

	res := e.get(t, "/id")
	wantStatus(t, res, 200)
	first := res.Header.Get(RequestIDHeader)
	if first == "" || seen != first {
		t.Fatalf("id %q, handler saw %q", first, seen)
	}
	res = e.get(t, "/id")
	wantStatus(t, res, 200)
	if res.Header.Get(RequestIDHeader) == first {
		t.Fatal("two requests got one id")
	}
	req := httptest.NewRequest(http.MethodGet, "/id", nil)
	req.Header.Set(RequestIDHeader, "lb-1234.abc")
	if res := e.do(t, req); res.Header.Get(RequestIDHeader) != "lb-1234.abc" || seen != "lb-1234.abc" {
		t.Fatalf("client's plain id not kept: %q", res.Header.Get(RequestIDHeader))
	}
	for _, bad := range []string{"a\"b", strings.Repeat("x", 65), "new\nline", "é"} {
		req := httptest.NewRequest(http.MethodGet, "/id", nil)
		req.Header.Set(RequestIDHeader, bad)
		if got := e.do(t, req).Header.Get(RequestIDHeader); got == bad || got == "" {
			t.Fatalf("id %q accepted as %q", bad, got)
		}
	}
}

func TestPanicBecomes500(t *testing.T) {
	e := newEnv(t, slog.LevelDebug, nil)
	e.mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("kaboom at 0xdeadbeef") })
	b := wantStatus(t, e.get(t, "/boom"), 500)
	if strings.Contains(b, "kaboom") {
		t.Errorf("panic leaked: %q", b)
	}
	if !strings.Contains(e.logs.String(), "kaboom") {
		t.Error("panic not logged")
	}
	if e.count(t, "route", "/boom", "code", "500") != 1 {
		t.Error("panic not counted")
	}
}

// Client-chosen paths and methods never become label values.
func TestLabelsBounded(t *testing.T) {
	e := newEnv(t, slog.LevelDebug, nil)
	e.mux.HandleFunc("GET /ca/{file}", func(http.ResponseWriter, *http.Request) {})
	wantStatus(t, e.get(t, "/ca/x.crt"), 200)
	wantStatus(t, e.get(t, "/no/such/path"), 404)
	wantStatus(t, e.do(t, httptest.NewRequest("BREW", "/ca/x.crt", nil)), 405)
	if e.count(t, "route", "/ca/{file}", "code", "200") != 1 || e.count(t, "route", "unmatched", "code", "404") != 1 ||
		e.count(t, "route", "unmatched", "method", "OTHER", "code", "405") != 1 {
		t.Fatal("labels not as expected")
	}
}

func TestNewMetricsTwiceFails(t *testing.T) {
	e := newEnv(t, slog.LevelDebug, nil)
	if _, err := NewMetrics(e.reg); err == nil {
		t.Fatal("second registration accepted")
	}
}
