package ca_test

import (
	"context"
	"fmt"
	"math/big"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCRL makes the qualified CA's full CRL from a SQLite store of
// 1,000,000 certificates of which 100,000 are revoked or held (one in ten;
// a tenth of those on hold, a third keyCompromise, the rest unspecified).
// The store is built once with bulk SQL. It reports the wall time of one
// CRL, the heap's peak during it (sampled every 5 ms, above the heap in use
// before) and the CRL's size. Run with:
//
//	go test -run '^$' -bench BenchmarkCRL -benchtime 3x -benchmem ./ca
func BenchmarkCRL(b *testing.B) {
	const total, revokedEvery = 1_000_000, 10
	c := newCRLCenter(b, backends(b)["sqlite"], false)
	start := time.Now()
	bulkCertificates(b, c, "qca-demo", total, revokedEvery)
	b.Logf("store of %d certificates built in %v", total, time.Since(start).Round(time.Millisecond))
	g := c.generator()
	ctx := context.Background()

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
			}
		}
	}()
	b.ResetTimer()
	var size, entries int
	for range b.N {
		res, err := g.Generate(ctx, "qca-demo")
		if err != nil {
			b.Fatal(err)
		}
		size, entries = len(res.DER), res.Entries
	}
	b.StopTimer()
	close(stop)
	<-done
	if entries != total/revokedEvery {
		b.Fatalf("CRL lists %d entries, want %d", entries, total/revokedEvery)
	}
	p := peak.Load()
	if p < baseHeap {
		p = baseHeap
	}
	b.ReportMetric(float64(p-baseHeap)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(size)/(1<<20), "crl-MiB")
	b.ReportMetric(float64(entries), "entries")
}

// bulkCertificates inserts n certificates of the issuer (reservations
// first, as the schema requires), every revokedEvery-th revoked or held,
// with multi-row INSERTs in one transaction.
func bulkCertificates(b *testing.B, c *crlCenter, issuer string, n, revokedEvery int) {
	b.Helper()
	tx, err := c.db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	now := time.Now()
	at := now.Add(-time.Hour).UnixMicro()
	nb, na := now.Add(-24*time.Hour).UnixMicro(), now.Add(365*24*time.Hour).UnixMicro()
	const rows = 500
	var res, cert strings.Builder
	flush := func() {
		for _, sb := range []*strings.Builder{&res, &cert} {
			if sb.Len() == 0 {
				continue
			}
			if _, err := tx.Exec(sb.String()); err != nil {
				b.Fatal(err)
			}
			sb.Reset()
		}
	}
	for i := range n {
		serial := new(big.Int).Add(big.NewInt(int64(i)), big.NewInt(0x10_0000_0000)).Text(16)
		if res.Len() == 0 {
			res.WriteString("INSERT INTO serial_reservations (issuer_id, serial, purpose, reserved_at) VALUES ")
			cert.WriteString("INSERT INTO certificates (issuer_id, serial, subject, profile, not_before, not_after, der, status, revoked_at, revocation_reason) VALUES ")
		} else {
			res.WriteByte(',')
			cert.WriteByte(',')
		}
		fmt.Fprintf(&res, "('%s','%s','bench',%d)", issuer, serial, nb)
		status, revoked, reason := "valid", "NULL", "NULL"
		if i%revokedEvery == 0 {
			status, revoked = "revoked", fmt.Sprint(at)
			switch k := i / revokedEvery; {
			case k%10 == 0:
				status, reason = "hold", "6"
			case k%3 == 0:
				reason = "1"
			}
		}
		fmt.Fprintf(&cert, "('%s','%s','CN=bench','bench',%d,%d,x'30',%s,%s,%s)", issuer, serial, nb, na, "'"+status+"'", revoked, reason)
		if (i+1)%rows == 0 {
			flush()
		}
	}
	flush()
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
