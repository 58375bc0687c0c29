// Command hsmrate measures the token's raw signing rate: c goroutines sign
// SHA-256 digests with one key through hsm/pkcs11 (the same session pool
// muhrd uses) for -duration, and it prints one loadgen-shaped line:
//
//	name  concurrency  ok  failed  seconds  per_second  p50_ms  p99_ms  cpu_ms
//
// The OCSP benchmark compares nonce requests (one live signature each) to it.
//
// With -listen it is instead the nonce row's ceiling: a bare net/http server
// on a loopback address that answers each POST with one signature on the
// token (over the body's SHA-256) wrapped as a successful OCSPResponse that
// echoes the body, so the load generator's -ocsp -fresh-nonce checks pass.
// Nothing else happens per request: what a server that signs each answer
// live costs on this machine before any OCSP logic (with muhrd's GOMAXPROCS
// rule). It prints its address, then serves until -duration or
// SIGINT/SIGTERM.
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/muhr-pki/muhr/hsm/pkcs11"
)

func main() {
	module := flag.String("module", "", "PKCS#11 module")
	token := flag.String("token", "", "token label")
	pinFile := flag.String("pin-file", "", "file holding the user PIN")
	key := flag.String("key", "", "label of the key to sign with")
	sessions := flag.Int("sessions", 4, "session pool size (muhrd's hsm.sessions)")
	c := flag.Int("c", 16, "concurrency")
	dur := flag.Duration("duration", 15*time.Second, "how long to sign (with -listen: to serve)")
	listen := flag.String("listen", "", "serve signed answers on this loopback address instead")
	flag.Parse()
	var err error
	if *listen != "" {
		err = serve(*listen, *module, *token, *pinFile, *key, *sessions, *dur)
	} else {
		err = run(*module, *token, *pinFile, *key, *sessions, *c, *dur)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hsmrate:", err)
		os.Exit(1)
	}
}

// open returns the key's signer on the token and a func closing the token.
func open(ctx context.Context, module, token, pinFile, key string, sessions int) (crypto.Signer, func(), error) {
	pin, err := os.ReadFile(pinFile)
	if err != nil {
		return nil, nil, err
	}
	tok, err := pkcs11.Open(ctx, pkcs11.Config{Module: module, TokenLabel: token,
		PIN: []byte(strings.TrimSpace(string(pin))), Sessions: sessions})
	if err != nil {
		return nil, nil, err
	}
	s, err := tok.Signer(ctx, key)
	if err != nil {
		tok.Close()
		return nil, nil, err
	}
	return s, func() { _ = tok.Close() }, nil
}

func run(module, token, pinFile, key string, sessions, c int, dur time.Duration) error {
	ctx := context.Background()
	s, closeToken, err := open(ctx, module, token, pinFile, key, sessions)
	if err != nil {
		return err
	}
	defer closeToken()
	d := sha256.Sum256([]byte("hsmrate"))
	if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
		return err
	}
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	lats := make([][]time.Duration, c)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	end := start.Add(dur)
	for w := range c {
		wg.Go(func() {
			for time.Now().Before(end) {
				t0 := time.Now()
				if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	elapsed := time.Since(start)
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	ms := func(r syscall.Rusage) float64 {
		return float64(r.Utime.Sec+r.Stime.Sec)*1e3 + float64(r.Utime.Usec+r.Stime.Usec)/1e3
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / 1e6 }
	fmt.Printf("hsm-raw-sign\t%d\t%d\t0\t%.2f\t%.0f\t%.2f\t%.2f\t%.0f\n", c, len(all), elapsed.Seconds(),
		float64(len(all))/elapsed.Seconds(), q(0.5), q(0.99), ms(ru1)-ms(ru0))
	return nil
}

// serve is -listen: one live signature per POST, and no other work.
func serve(addr, module, token, pinFile, key string, sessions int, dur time.Duration) error {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return errors.New("-listen must be a loopback address")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	s, closeToken, err := open(ctx, module, token, pinFile, key, sessions)
	if err != nil {
		return err
	}
	defer closeToken()
	// The runtime tuning muhrd gives itself when it signs on the token (one
	// P more per session, cmd/muhrd/procs.go), so that this ceiling and
	// muhrd differ only in what they do per request.
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + sessions)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		d := sha256.Sum256(body)
		sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// OCSPResponse{successful, [0] OCTET STRING(body || signature)}.
		inner, _ := asn1.Marshal(append(body, sig...))
		reply, _ := asn1.Marshal(struct {
			Status asn1.Enumerated
			Bytes  asn1.RawValue
		}{0, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}})
		w.Header().Set("Content-Type", "application/ocsp-response")
		_, _ = w.Write(reply)
	})}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
