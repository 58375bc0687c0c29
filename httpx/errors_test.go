package httpx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/errkind"
)

func TestStatusOfEveryKind(t *testing.T) {
	want := map[errkind.Kind]int{
		errkind.Invalid:     400,
		errkind.Forbidden:   403,
		errkind.NotFound:    404,
		errkind.Conflict:    409,
		errkind.Unavailable: 503,
		errkind.Internal:    500,
	}
	for k, code := range want {
		if got := Status(k); got != code {
			t.Errorf("%v: %d, want %d", k, got, code)
		}
	}
}

// 4xx answers say what the handler allows; 5xx never carry the error's
// text (a database host, a path), which goes to the log with the request id.
func TestFail(t *testing.T) {
	secret := "dial tcp 10.1.2.3:5432: connection refused"
	cases := []struct {
		name   string
		err    error
		public string
		code   int
		body   string
		logged bool
	}{
		{"not found with text", fmt.Errorf("get: %w", errkind.New(errkind.NotFound, "store: not found")), "unknown CA x", 404, "unknown CA x", false},
		{"conflict generic", errkind.New(errkind.Conflict, "exists"), "", 409, "conflict with the current state", false},
		{"unavailable", fmt.Errorf("%s: %w", secret, errkind.New(errkind.Unavailable, "store: database unavailable")), "ignored", 503, "temporarily unavailable, try later", true},
		{"deadline", fmt.Errorf("%s: %w", secret, context.DeadlineExceeded), "", 503, "temporarily unavailable, try later", true},
		{"internal", errors.New(secret), "ignored", 500, "internal error", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, slog.LevelDebug, nil)
			e.mux.HandleFunc("GET /x", func(w http.ResponseWriter, r *http.Request) {
				Fail(w, r, slog.New(slog.NewJSONHandler(e.logs, nil)), c.err, c.public)
			})
			res := e.get(t, "/x")
			b := wantStatus(t, res, c.code)
			if strings.TrimSpace(b) != c.body {
				t.Errorf("body %q, want %q", b, c.body)
			}
			if strings.Contains(b, "10.1.2.3") {
				t.Error("internal detail sent to the client")
			}
			if c.code == 503 && res.Header.Get("Retry-After") != RetryAfter {
				t.Error("503 without Retry-After")
			}
			logs := e.logs.String()
			if c.logged && !contains(logs, "10.1.2.3", `"request_id":"`+res.Header.Get(RequestIDHeader)+`"`) {
				t.Errorf("error not logged with its request id: %s", logs)
			}
		})
	}
}

func TestFailClientGone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	Fail(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx), nil, ctx.Err(), "")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("code %d", rec.Code)
	}
}
