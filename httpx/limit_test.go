package httpx

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A route's MaxBody replaces the listener's cap for that route only: above
// the default and below its own it is served, above its own it is 413 with
// its own number, and the routes that declare nothing keep the default.
func TestRouteBodyLimit(t *testing.T) {
	e := newEnv(t, slog.LevelDebug, nil) // MaxBodyBytes 64
	mountEcho(e)
	calls := 0
	echo := func(w http.ResponseWriter, r *http.Request) {
		calls++
		if b, ok := ReadBody(w, r); ok {
			_, _ = w.Write(b)
		}
	}
	e.mux.HandleFunc("POST /big", echo, MaxBody(1000))
	e.mux.HandleRaw(http.MethodPost, "/raw/", http.HandlerFunc(echo), MaxBody(100))
	e.mux.HandleRaw(http.MethodGet, "/raw/", http.HandlerFunc(echo))
	e.mux.HandleFunc("POST /small", echo, MaxBody(10))

	post := func(path string, n int, chunked bool) (int, string) {
		var body io.Reader = strings.NewReader(strings.Repeat("a", n))
		if chunked {
			body = io.MultiReader(body) // no length known: net/http streams it
		}
		res := e.do(t, httptest.NewRequest(http.MethodPost, path, body))
		return res.StatusCode, readAll(t, res)
	}
	for _, c := range []struct {
		path    string
		n       int
		chunked bool
		code    int
		reason  string
	}{
		{"/big", 1000, false, 200, ""},
		{"/big", 1000, true, 200, ""},
		{"/big", 1001, false, 413, "over 1000 bytes"},
		{"/big", 1001, true, 413, "over 1000 bytes"},
		{"/echo", 65, false, 413, "over 64 bytes"}, // the default still holds elsewhere
		{"/raw/x", 100, false, 200, ""},
		{"/raw/x", 101, true, 413, "over 100 bytes"},
		{"/small", 11, false, 413, "over 10 bytes"}, // below the default too
		{"/small", 11, true, 413, "over 10 bytes"},
	} {
		code, b := post(c.path, c.n, c.chunked)
		if code != c.code || !strings.Contains(b, c.reason) {
			t.Errorf("%s %d octets (chunked %v): %d %q, want %d %q", c.path, c.n, c.chunked, code, b, c.code, c.reason)
		}
	}
	// The GET raw route on the same prefix declared nothing: the default.
	res := e.do(t, httptest.NewRequest(http.MethodGet, "/raw/x", strings.NewReader(strings.Repeat("a", 65))))
	if res.StatusCode != 413 {
		t.Errorf("GET /raw/x with 65 octets: %d, want the default 413", res.StatusCode)
	}
	// Refused by Content-Length before the handler ran.
	before := calls
	post("/big", 5000, false)
	if calls != before {
		t.Error("handler ran for a body its route refused by Content-Length")
	}
}

func TestMaxBodyMustBePositive(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MaxBody(0) accepted")
		}
	}()
	MaxBody(0)
}

func readAll(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
