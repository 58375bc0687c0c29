package audit_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/store"
)

// synthetic is a store.Reader for n certificates, each with its cert.issue
// record, made up on demand so that the benchmark measures what Check
// holds, not the fixture. Serials are 1<<60 + i: one hex length, so text
// order is numeric order. missing > 0 leaves that certificate's record
// out, so Check takes the rounds.
type synthetic struct {
	store.Reader
	n, missing int64
	mu         sync.Mutex
	last       *store.AuditRecord // the record before the next page asked for
}

var synthBase = new(big.Int).Lsh(big.NewInt(1), 60)

func synthSerial(i int64) *big.Int { return new(big.Int).Add(synthBase, big.NewInt(i)) }

func synthDER(i int64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(i))
	return b
}

func (s *synthetic) cert(i int64) store.Certificate {
	return store.Certificate{IssuerID: "ca-a", Serial: synthSerial(i), DER: synthDER(i), Status: store.CertStatusValid}
}

// record seq maps to certificate seq-1, skipping the missing one.
func (s *synthetic) records() int64 {
	if s.missing > 0 {
		return s.n - 1
	}
	return s.n
}

func (s *synthetic) AuditRecords(_ context.Context, after int64, limit int) ([]store.AuditRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if after == 0 {
		s.last = nil
	}
	if s.last != nil && s.last.Seq != after || s.last == nil && after != 0 {
		return nil, fmt.Errorf("synthetic: pages must be read in order (after %d)", after)
	}
	var out []store.AuditRecord
	for seq := after + 1; seq <= s.records() && len(out) < limit; seq++ {
		i := seq - 1
		if s.missing > 0 && i >= s.missing {
			i++
		}
		sum := sha256.Sum256(synthDER(i))
		r, err := audit.Seal(s.last, time.Unix(1, 0), audit.Entry{Actor: "t", Action: audit.ActionCertIssue,
			Object: fmt.Sprintf("cert/ca-a/%x", synthSerial(i)), Details: map[string]string{"sha256": hex.EncodeToString(sum[:])}})
		if err != nil {
			return nil, err
		}
		out = append(out, r)
		s.last = &out[len(out)-1]
	}
	return out, nil
}

func (s *synthetic) GetCertificates(_ context.Context, _ string, serials []*big.Int) ([]store.Certificate, error) {
	var out []store.Certificate
	for _, n := range serials {
		if i := new(big.Int).Sub(n, synthBase).Int64(); i >= 0 && i < s.n {
			out = append(out, s.cert(i))
		}
	}
	return out, nil
}

func (s *synthetic) CertificatesAfter(_ context.Context, _ string, serial *big.Int, limit int) ([]store.Certificate, error) {
	i := int64(0)
	if serial != nil {
		i = new(big.Int).Sub(serial, synthBase).Int64() + 1
	}
	var out []store.Certificate
	for ; i < s.n && len(out) < limit; i++ {
		out = append(out, s.cert(i))
	}
	return out, nil
}

func (s *synthetic) CountTSATokens(context.Context) (int64, error) { return 0, nil }

// peakHeap samples the heap in use while fn runs.
func peakHeap(fn func()) uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	fn()
	close(done)
	wg.Wait()
	return peak.Load()
}

// go test -run X -bench CheckCertificates -benchtime 1x ./audit: the peak
// heap stays flat from 10,000 to 1,000,000 certificates, healthy or with
// one record missing (which takes the rounds: ten for 1,000,000).
func BenchmarkCheckCertificates(b *testing.B) {
	for _, n := range []int64{10_000, 100_000, 1_000_000} {
		for _, missing := range []int64{0, n / 2} {
			b.Run(fmt.Sprintf("n=%d/missing=%v", n, missing > 0), func(b *testing.B) {
				for b.Loop() {
					s := &synthetic{n: n, missing: missing}
					runtime.GC()
					var err error
					peak := peakHeap(func() { _, err = audit.Check(context.Background(), s, audit.Options{}) })
					if (err == nil) != (missing == 0) {
						b.Fatalf("Check: %v", err)
					}
					b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
				}
			})
		}
	}
}

// The synthetic store passes Check, and fails it naming the certificate
// whose record is missing, also through the rounds (MaxKeys small).
func TestCheckSyntheticStore(t *testing.T) {
	if _, err := audit.Check(t.Context(), &synthetic{n: 2000}, audit.Options{MaxKeys: 300}); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	_, err := audit.Check(t.Context(), &synthetic{n: 2000, missing: 777}, audit.Options{MaxKeys: 300})
	if want := fmt.Sprintf("certificate ca-a/%x: the row has no record of its issue in the chain", synthSerial(777)); err == nil || err.Error() != "audit: "+want {
		t.Fatalf("missing record: %v; want %s", err, want)
	}
}

// The ledger's per-batch cost: the entry (row digests, JSON) and its seal.
func BenchmarkLedgerBatchRecord(b *testing.B) {
	for _, n := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			toks := make([]store.TSAToken, n)
			for i := range toks {
				toks[i] = store.TSAToken{Serial: new(big.Int).SetBytes(randBytes(20)), GenTime: time.Now(), HashAlgorithm: "2.16.840.1.101.3.4.2.1",
					MessageImprint: randBytes(32), Policy: "0.4.0.2023.1.1", Requester: "192.0.2.1:1", SignerCAID: "qca-demo",
					SignerSerial: big.NewInt(7), TokenDER: randBytes(800), IssuedAt: time.Now()}
			}
			for b.Loop() {
				if _, err := audit.Seal(nil, time.Now(), audit.LedgerBatchEntry("muhr-tsa", toks)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
		})
	}
}
