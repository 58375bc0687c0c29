package tsa_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"github.com/muhr-pki/muhr/store"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/tsa"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

// BenchmarkTSA reports tokens per second over HTTP on loopback at
// concurrency 1, 16 and 64 with p50/p99 latency, next to the raw signing
// rate of the same HSM key in the same run. Each sub-benchmark issues b.N
// tokens (bound it with -benchtime Nx). The ledger is SQLite with
// synchronous=FULL (the embedded default) behind the group-commit
// BatchLedger, as muhrd runs it.
func BenchmarkTSA(b *testing.B) {
	pki := tsatest.NewPKI(b, nil)
	e := newEnv(b, pki, func(o *tsa.Options) { o.Ledger = newBatchLedger(b, pki.Store) })
	if os.Getenv("TSA_BENCH_NO_LEDGER") != "" {
		e = newEnv(b, pki, func(o *tsa.Options) { o.Ledger = noLedger{} })
	}
	unit, err := tsa.LoadUnit(b.Context(), pki.Store, pki.Token, pki.TSACA, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("bench"))
	for _, c := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("hsm-sign/c=%d", c), func(b *testing.B) {
			measure(b, c, func() error {
				_, err := unit.Signer.Sign(rand.Reader, d[:], crypto.SHA256)
				return err
			})
		})
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	q := request(b, nil)
	for _, c := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("http/c=%d", c), func(b *testing.B) {
			measure(b, c, func() error {
				res, err := client.Post(e.url+"/tsa", tsa.QueryType, bytes.NewReader(q))
				if err != nil {
					return err
				}
				defer res.Body.Close()
				var buf bytes.Buffer
				if _, err := buf.ReadFrom(res.Body); err != nil {
					return err
				}
				if res.StatusCode != http.StatusOK || len(buf.Bytes()) < 500 {
					return fmt.Errorf("status %d, %d bytes: not a token", res.StatusCode, buf.Len())
				}
				return nil
			})
		})
	}
}

// measure runs op b.N times on c workers and reports ops/s, p50 and p99.
func measure(b *testing.B, c int, op func() error) {
	var next atomic.Int64
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	for range c {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := op(); err != nil {
					failed.Store(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// noLedger records nothing: TSA_BENCH_NO_LEDGER=1 shows what the ledger
// commit costs. Never used outside this benchmark.
type noLedger struct{}

func (noLedger) RecordToken(context.Context, store.TSAToken) error { return nil }
