package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startServe runs Serve on a fresh 127.0.0.1 listener and returns its
// address and the channel Serve's result arrives on.
func startServe(t *testing.T, ctx context.Context, s *Server) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	return ln.Addr().String(), done
}

func waitServe(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

func TestHTTPServerLimits(t *testing.T) {
	env := newTestEnv(t, nil)
	cfg := testHTTP()
	hs := env.srv.httpServer(t.Context(), nil, nil)
	if hs.ReadHeaderTimeout != cfg.ReadHeaderTimeout || hs.ReadTimeout != cfg.ReadTimeout ||
		hs.WriteTimeout != cfg.WriteTimeout || hs.IdleTimeout != cfg.IdleTimeout ||
		hs.MaxHeaderBytes != cfg.MaxHeaderBytes {
		t.Errorf("http.Server limits %+v not from config %+v", hs, cfg)
	}
}

// A client that trickles its headers is cut off by ReadHeaderTimeout.
func TestSlowHeadersCutOff(t *testing.T) {
	env := newTestEnv(t, func(o *Options) {
		o.HTTP.ReadHeaderTimeout = 100 * time.Millisecond
		o.HTTP.ReadTimeout = 10 * time.Second // must not be what fires
	})
	ctx, cancel := context.WithCancel(t.Context())
	addr, done := startServe(t, ctx, env.srv)
	defer func() { cancel(); waitServe(t, done) }()

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // past the timeout, headers unfinished
	// The rest arrives too late: the server has already given up.
	_, _ = io.WriteString(conn, "Host: x\r\n\r\n")

	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(conn)
	elapsed := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", elapsed)
	}
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read: %v", err)
	}
	if strings.Contains(string(got), "200 OK") {
		t.Fatalf("slow request was served: %q", got)
	}
	if elapsed > 4*time.Second {
		t.Errorf("cut off only after %v", elapsed)
	}

	// A prompt client on the same server is served.
	res, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, res, http.StatusOK)
	res.Body.Close()
}

// Cancelling ctx stops new work but lets an in-flight request finish, and
// Serve then returns nil.
func TestGracefulShutdown(t *testing.T) {
	env := newTestEnv(t, nil)
	started := make(chan struct{})
	release := make(chan struct{})
	env.srv.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	}))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addr, done := startServe(t, ctx, env.srv)

	type reply struct {
		body string
		err  error
	}
	replies := make(chan reply, 1)
	go func() {
		res, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			replies <- reply{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		replies <- reply{string(b), err}
	}()
	<-started
	cancel()

	// Serve waits for the in-flight request...
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	// ...and new connections are refused meanwhile.
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("new connection accepted during shutdown")
	}
	close(release)

	r := <-replies
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := waitServe(t, done); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// A request that outlives ShutdownTimeout is cut off and Serve says so.
func TestShutdownTimeout(t *testing.T) {
	env := newTestEnv(t, func(o *Options) { o.HTTP.ShutdownTimeout = 100 * time.Millisecond })
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	env.srv.Handle("GET /stuck", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	}))
	ctx, cancel := context.WithCancel(t.Context())
	addr, done := startServe(t, ctx, env.srv)
	go func() {
		if res, err := http.Get("http://" + addr + "/stuck"); err == nil {
			res.Body.Close()
		}
	}()
	<-started
	cancel()
	err := waitServe(t, done)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Serve: %v, want deadline exceeded", err)
	}
}

func TestListenAndServeBadAddr(t *testing.T) {
	env := newTestEnv(t, nil)
	err := env.srv.ListenAndServe(t.Context(), "127.0.0.1:notaport")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:notaport") {
		t.Fatalf("err %v does not name the address", err)
	}
}

func TestListenAndServe(t *testing.T) {
	env := newTestEnv(t, nil)
	// Find a free port, release it, then serve on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- env.srv.ListenAndServe(ctx, addr) }()

	var res *http.Response
	for deadline := time.Now().Add(5 * time.Second); ; {
		if res, err = http.Get("http://" + addr + "/ca/root.crt"); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, res, http.StatusOK)
	res.Body.Close()
	cancel()
	if err := waitServe(t, done); err != nil {
		t.Fatalf("ListenAndServe: %v", err)
	}
}

// Run serves the public and the operations routes on their own listeners
// and, at shutdown, stops both and returns only after the in-flight
// requests of both have finished.
func TestRunListenersDrainTogether(t *testing.T) {
	env := newTestEnv(t, nil)
	started := make(chan struct{}, 2)
	release := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "finished")
	})
	env.srv.Public().Handle("GET /slow", slow)
	env.srv.Ops().Handle("GET /slow", slow)
	pub, err := Listen(t.Context(), ListenerPublic, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ops, err := Listen(t.Context(), ListenerOps, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- env.srv.Run(ctx,
			Listener{Name: ListenerPublic, Net: pub, Handler: env.srv.Handler()},
			Listener{Name: ListenerOps, Net: ops, Handler: env.srv.OpsHandler()})
	}()
	pubURL, opsURL := "http://"+pub.Addr().String(), "http://"+ops.Addr().String()

	// Each listener has its own routes.
	if res, err := http.Get(opsURL + "/metrics"); err != nil {
		t.Fatal(err)
	} else {
		wantStatus(t, res, http.StatusOK)
	}
	if res, err := http.Get(pubURL + "/metrics"); err != nil {
		t.Fatal(err)
	} else {
		wantStatus(t, res, http.StatusNotFound)
	}

	replies := make(chan string, 2)
	for _, u := range []string{pubURL, opsURL} {
		go func() {
			res, err := http.Get(u + "/slow")
			if err != nil {
				replies <- err.Error()
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			replies <- string(b)
		}()
	}
	<-started
	<-started
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned %v with requests in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	for _, a := range []string{pub.Addr().String(), ops.Addr().String()} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s accepted a connection during shutdown", a)
		}
	}
	close(release)
	for range 2 {
		if r := <-replies; r != "finished" {
			t.Errorf("in-flight request: %q", r)
		}
	}
	if err := waitServe(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// A listener that fails stops the others and Run says which one.
func TestRunListenerFailureStopsAll(t *testing.T) {
	env := newTestEnv(t, nil)
	pub, err := Listen(t.Context(), ListenerPublic, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ops, err := Listen(t.Context(), ListenerOps, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- env.srv.Run(t.Context(),
			Listener{Name: ListenerPublic, Net: pub, Handler: env.srv.Handler()},
			Listener{Name: ListenerOps, Net: ops, Handler: env.srv.OpsHandler()})
	}()
	time.Sleep(50 * time.Millisecond)
	ops.Close() // the operations listener breaks
	err = waitServe(t, done)
	if err == nil || !strings.Contains(err.Error(), "serve ops") {
		t.Fatalf("Run: %v", err)
	}
	if c, err := net.DialTimeout("tcp", pub.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("public listener still up after the ops listener failed")
	}
}

func TestListenNamesListener(t *testing.T) {
	_, err := Listen(t.Context(), ListenerOps, "127.0.0.1:notaport")
	if err == nil || !strings.Contains(err.Error(), "ops listener 127.0.0.1:notaport") {
		t.Fatalf("err %v", err)
	}
}
