package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// echo is a body-reading handler mounted the way OCSP and TSA will be.
func mountEcho(env *testEnv) *int {
	calls := new(int)
	env.srv.Handle("POST /echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*calls++
		b, ok := ReadBody(w, r)
		if !ok {
			return
		}
		_, _ = w.Write(b)
	}))
	return calls
}

// zeros is an endless body.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestBodyLimit(t *testing.T) {
	env := newTestEnv(t, nil) // MaxBodyBytes 64
	calls := mountEcho(env)
	atLimit := strings.Repeat("a", 64)
	over := strings.Repeat("b", 65)

	t.Run("at the limit", func(t *testing.T) {
		body := wantStatus(t, env.do(t, http.MethodPost, "/echo", strings.NewReader(atLimit)), http.StatusOK)
		if body != atLimit {
			t.Errorf("echo %q", body)
		}
	})
	t.Run("declared length over the limit", func(t *testing.T) {
		before := *calls
		res := env.do(t, http.MethodPost, "/echo", strings.NewReader(over))
		wantStatus(t, res, http.StatusRequestEntityTooLarge)
		wantPlainText(t, res)
		if *calls != before {
			t.Error("handler ran for a body refused by Content-Length")
		}
	})
	t.Run("chunked body over the limit", func(t *testing.T) {
		// No Content-Length: only MaxBytesReader can catch it.
		req := httptest.NewRequest(http.MethodPost, "/echo", io.MultiReader(strings.NewReader(over)))
		if req.ContentLength != -1 {
			t.Fatalf("ContentLength %d, want unknown", req.ContentLength)
		}
		body := wantStatus(t, env.doReq(t, req), http.StatusRequestEntityTooLarge)
		if !strings.Contains(body, "64 bytes") {
			t.Errorf("reason %q", body)
		}
	})
	t.Run("chunked over a real connection", func(t *testing.T) {
		ts := httptest.NewServer(env.srv.Handler())
		defer ts.Close()
		// An unbounded stream: the server must answer and hang up rather
		// than drain it.
		res, err := http.Post(ts.URL+"/echo", "application/octet-stream", io.MultiReader(strings.NewReader(over), zeros{}))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		wantStatus(t, res, http.StatusRequestEntityTooLarge)
		if !res.Close {
			t.Error("connection kept open after a body over the limit")
		}
	})
	t.Run("every route", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/healthz", strings.NewReader(over))
		wantStatus(t, env.doReq(t, req), http.StatusRequestEntityTooLarge)
	})
	m := env.metricsText(t)
	if !strings.Contains(m, `muhr_http_requests_total{code="413",method="POST",route="/echo"} 2`+"\n") {
		t.Error("413 from ReadBody not counted on its route")
	}
}

func TestRequestLog(t *testing.T) {
	env := newTestEnv(t, nil)
	mountEcho(env)
	wantStatus(t, env.do(t, http.MethodPost, "/echo?token=QUERYSECRET", strings.NewReader("BODYSECRET")), http.StatusOK)
	logs := env.logs.String()
	for _, want := range []string{`"msg":"http request"`, `"method":"POST"`, `"path":"/echo"`, `"status":200`, `"duration":`, `"route":"/echo"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s: %s", want, logs)
		}
	}
	for _, secret := range []string{"BODYSECRET", "QUERYSECRET"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds %s", secret)
		}
	}
}

func TestPanicBecomes500(t *testing.T) {
	env := newTestEnv(t, nil)
	env.srv.Handle("GET /boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("kaboom at 0xdeadbeef")
	}))
	body := wantStatus(t, env.do(t, http.MethodGet, "/boom", nil), http.StatusInternalServerError)
	if strings.Contains(body, "kaboom") {
		t.Errorf("panic leaked: %q", body)
	}
	if !strings.Contains(env.logs.String(), "kaboom") {
		t.Error("panic not logged")
	}
	if !strings.Contains(env.metricsText(t), `muhr_http_requests_total{code="500",method="GET",route="/boom"} 1`+"\n") {
		t.Error("panic not counted")
	}
}
