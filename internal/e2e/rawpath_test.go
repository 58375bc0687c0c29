package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/httpx"
	"github.com/muhr-pki/muhr/server"
)

// A route mounted on the raw path (as the OCSP role will mount GET
// /ocsp/<base64>) gets a path holding "//" as sent, through muhrd's whole
// public stack (server, middleware, a real socket, a request written by
// hand), with no redirect; ServeMux routes beside it still work. No muhrd
// route uses the raw mount yet, so this drives server.Server directly.
func TestRawRouteOverARealSocket(t *testing.T) {
	srv := server.New(server.Options{HTTP: config.HTTP{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second,
		WriteTimeout: 5 * time.Second, MaxBodyBytes: 1 << 16}})
	srv.Public().HandleRaw(http.MethodGet, "/ocsp/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "tail=", httpx.RawTail(r, "/ocsp/"))
	}))
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := server.Listen(ctx, server.ListenerPublic, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- srv.Run(ctx, server.Listener{Name: server.ListenerPublic, Net: ln, Handler: srv.Handler()})
	}()
	defer func() { cancel(); <-done }()

	raw := func(path string) (int, string, string) {
		t.Helper()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(b)
	}
	for path, tail := range map[string]string{
		"/ocsp/MEUwQzBBMD8wPTAJBgUrDgMCGgUABBQ//AB+c%2Fd==": "MEUwQzBBMD8wPTAJBgUrDgMCGgUABBQ//AB+c/d==",
		"/ocsp//leading":  "/leading",
		"/ocsp/a/./b//c/": "a/./b//c/",
	} {
		code, loc, body := raw(path)
		if code != http.StatusOK || loc != "" || body != "tail="+tail {
			t.Errorf("GET %s: %d Location %q body %q; want 200 with tail %q", path, code, loc, body, tail)
		}
	}
	if code, _, body := raw("/healthz"); code != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("/healthz beside the raw route: %d %s", code, body)
	}
}
