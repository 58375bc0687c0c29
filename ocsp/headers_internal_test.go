package ocsp

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

type oneAnswer struct{ c *Cached }

func (s oneAnswer) Response(context.Context, CertID) (*Cached, error) { return s.c, nil }
func (s oneAnswer) Sign(context.Context, *Request) ([]byte, error)    { return s.c.DER, nil }

// The header values made once per answer still say what RFC 5019 §6.2
// asks at every request: max-age counts down with the clock, the rest is
// the answer's own, and one request's header change is not seen by the
// next (the value slices are shared).
func TestCachedHeadersFollowClock(t *testing.T) {
	this := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	c := &Cached{DER: []byte("0123456789"), ThisUpdate: this, NextUpdate: this.Add(24 * time.Hour), ETag: `"e1"`}
	rs := NewResponder(oneAnswer{c}, nil)
	now := this.Add(time.Hour)
	rs.clock = func() time.Time { return now }
	der := requestDER(t, 7, nil)
	path := GETPrefix + base64.StdEncoding.EncodeToString(der)

	get := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		rs.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w
	}
	w := get()
	want := map[string]string{
		"Cache-Control":  "max-age=82800, public, no-transform, must-revalidate",
		"Last-Modified":  "Mon, 07 Dec 2026 10:00:00 GMT",
		"Expires":        "Tue, 08 Dec 2026 10:00:00 GMT",
		"ETag":           `"e1"`,
		"Content-Length": strconv.Itoa(len(c.DER)),
		"Content-Type":   "application/ocsp-response",
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	w.Header().Add("Cache-Control", "changed by a later handler")
	w.Header()["Expires"][0] = "overwritten in place"

	now = now.Add(90 * time.Second)
	w = get()
	if got := w.Header().Values("Cache-Control"); len(got) != 1 || got[0] != "max-age=82710, public, no-transform, must-revalidate" {
		t.Fatalf("Cache-Control 90 s later = %q", got)
	}
	// httptest.ResponseRecorder snapshots headers at WriteHeader, so the
	// in-place write above changed only the first recorder's copy; the
	// second answer must carry the true value.
	if got := w.Header().Get("Expires"); got != want["Expires"] {
		t.Fatalf("Expires = %q after another request's header was changed", got)
	}
	if w.Body.String() != string(c.DER) {
		t.Fatalf("body %q", w.Body.String())
	}

	// Past nextUpdate max-age is 0, never negative.
	now = c.NextUpdate.Add(time.Minute)
	if got := get().Header().Get("Cache-Control"); got != "max-age=0, public, no-transform, must-revalidate" {
		t.Fatalf("Cache-Control past nextUpdate = %q", got)
	}
}
