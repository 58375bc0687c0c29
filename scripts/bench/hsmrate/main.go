// Command hsmrate measures the token's raw signing rate: c goroutines sign
// SHA-256 digests with one key through hsm/pkcs11 (the same session pool
// muhrd uses) for -duration, and it prints one loadgen-shaped line:
//
//	name  concurrency  ok  failed  seconds  per_second  p50_ms  p99_ms  cpu_ms
//
// The OCSP benchmark compares nonce requests (one live signature each) to it.
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
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
	dur := flag.Duration("duration", 15*time.Second, "how long to sign")
	flag.Parse()
	if err := run(*module, *token, *pinFile, *key, *sessions, *c, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "hsmrate:", err)
		os.Exit(1)
	}
}

func run(module, token, pinFile, key string, sessions, c int, dur time.Duration) error {
	pin, err := os.ReadFile(pinFile)
	if err != nil {
		return err
	}
	ctx := context.Background()
	tok, err := pkcs11.Open(ctx, pkcs11.Config{Module: module, TokenLabel: token,
		PIN: []byte(strings.TrimSpace(string(pin))), Sessions: sessions})
	if err != nil {
		return err
	}
	defer tok.Close()
	s, err := tok.Signer(ctx, key)
	if err != nil {
		return err
	}
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
