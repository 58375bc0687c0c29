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
	"github.com/muhr-pki/muhr/internal/testpki"
)

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
	if got := testpki.SlowPOST(t, addr, "/long", "", bytes.Repeat([]byte{'a'}, 10000), 1200*time.Millisecond); got != "HTTP/1.1 200 OK" {
		t.Errorf("slow body on the LongUpload route: %q, want 200", got)
	}
	if got := testpki.SlowPOST(t, addr, "/short", "", bytes.Repeat([]byte{'a'}, 10000), 1200*time.Millisecond); strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Errorf("slow body on an ordinary route: %q, want it cut off by the 300ms read timeout", got)
	}
}
