package ca_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
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
	b.Run("stream", func(b *testing.B) {
		var size, entries int
		peak := peakHeap(b, func() {
			for range b.N {
				res, err := g.Generate(ctx, "qca-demo")
				if err != nil {
					b.Fatal(err)
				}
				size, entries = len(res.DER), res.Entries
			}
		})
		if entries != total/revokedEvery {
			b.Fatalf("CRL lists %d entries, want %d", entries, total/revokedEvery)
		}
		b.ReportMetric(peak, "peak-heap-MiB")
		b.ReportMetric(float64(size)/(1<<20), "crl-MiB")
	})
	// The same entries through x509.CreateRevocationList, which needs them
	// all as Go values at once: what the streamed writer avoids.
	b.Run("x509-all-in-memory", func(b *testing.B) {
		caRow, err := c.st.GetCA(ctx, "qca-demo")
		if err != nil {
			b.Fatal(err)
		}
		caCert, err := x509.ParseCertificate(caRow.CertDER)
		if err != nil {
			b.Fatal(err)
		}
		signer, err := c.keys.Signer(ctx, caRow.KeyLabel)
		if err != nil {
			b.Fatal(err)
		}
		var size int
		peak := peakHeap(b, func() {
			for i := range b.N {
				var list []x509.RevocationListEntry
				var after *big.Int
				for {
					page, err := c.st.RevokedAfter(ctx, "qca-demo", after, 2000)
					if err != nil {
						b.Fatal(err)
					}
					for _, e := range page {
						r := 0
						if e.Reason != nil {
							r = *e.Reason
						}
						list = append(list, x509.RevocationListEntry{SerialNumber: e.Serial, RevocationTime: e.RevokedAt, ReasonCode: r})
					}
					if len(page) < 2000 {
						break
					}
					after = page[len(page)-1].Serial
				}
				now := time.Now()
				der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(int64(1000 + i)),
					ThisUpdate: now, NextUpdate: now.Add(72 * time.Hour), RevokedCertificateEntries: list}, caCert, signer)
				if err != nil {
					b.Fatal(err)
				}
				size = len(der)
			}
		})
		b.ReportMetric(peak, "peak-heap-MiB")
		b.ReportMetric(float64(size)/(1<<20), "crl-MiB")
	})
}

// peakHeap runs f with the heap sampled every 5 ms and returns its peak
// above the heap in use before, in MiB.
func peakHeap(b *testing.B, f func()) float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
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
	f()
	b.StopTimer()
	close(stop)
	<-done
	p := max(peak.Load(), base)
	return float64(p-base) / (1 << 20)
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
