package httpx_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/httpx"
)

// slowPOST sends a body of n bytes in pieces over about spread, on its own
// connection, and returns the status line (or the error that ended it).
func slowPOST(t *testing.T, addr, path string, n int, spread time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", path, n); err != nil {
		t.Fatal(err)
	}
	const pieces = 10
	for range pieces {
		time.Sleep(spread / pieces)
		if _, err := c.Write(bytes.Repeat([]byte{'a'}, n/pieces)); err != nil {
			return "write: " + err.Error()
		}
	}
	line, err := io.ReadAll(io.LimitReader(c, 64))
	if len(line) == 0 {
		return fmt.Sprintf("no answer: %v", err)
	}
	s, _, _ := strings.Cut(string(line), "\r\n")
	return s
}

// A route under LongUpload reads a body that takes longer than the
// listener's read timeout, through the middleware; an ordinary route on
// the same server is still cut off by that timeout.
func TestLongUploadOutlastsReadTimeout(t *testing.T) {
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d bytes", len(b))
	})
	mux := http.NewServeMux()
	mux.Handle("POST /long", httpx.LongUpload(count, 5*time.Second, time.Second))
	mux.Handle("POST /short", count)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: httpx.Wrap(mux, httpx.Options{MaxBodyBytes: 1 << 20}),
		ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()
	if got := slowPOST(t, addr, "/long", 10000, 1200*time.Millisecond); got != "HTTP/1.1 200 OK" {
		t.Errorf("slow body on the LongUpload route: %q, want 200", got)
	}
	if got := slowPOST(t, addr, "/short", 10000, 1200*time.Millisecond); strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Errorf("slow body on an ordinary route: %q, want it cut off by the 300ms read timeout", got)
	}
}
