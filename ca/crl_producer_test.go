package ca_test

import (
	"context"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/sqlite"
)

// clock is a settable time shared by producers and generators.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func producer(c *crlCenter, st ca.CRLProducerStore, holder string, clk *clock) *ca.CRLProducer {
	g := c.generator()
	g.Store, g.Now, g.Actor = st, clk.now, holder
	return &ca.CRLProducer{Gen: g, Store: st, Holder: holder, Interval: 24 * time.Hour, Poll: 10 * time.Second, LeaseTTL: time.Minute, Now: clk.now}
}

func numbers(res []ca.CRLResult) map[string]int64 {
	out := map[string]int64{}
	for _, r := range res {
		out[r.IssuerID] = r.Number.Int64()
	}
	return out
}

func tick(t *testing.T, p *ca.CRLProducer) map[string]int64 {
	t.Helper()
	res, err := p.Tick(context.Background())
	if err != nil {
		t.Fatalf("%s: Tick: %v", p.Holder, err)
	}
	return numbers(res)
}

func TestCRLProducerLease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "muhr.db")
	open := func(t testing.TB) store.Store {
		st, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	c := newCRLCenter(t, open, false)
	clk := &clock{t: time.Now()}
	// Two producers, each on its own connection pool, as two muhrd would be.
	p1 := producer(c, c.st, "p1", clk)
	p2 := producer(c, open(t), "p2", clk)

	all := map[string]int64{"root-demo": 2, "qca-demo": 2, "svc-demo": 2, "mgmt-demo": 2}
	if got := tick(t, p1); !equalMap(got, all) {
		t.Fatalf("first holder made %v, want every CA's CRL %v", got, all)
	}
	if got := tick(t, p2); len(got) != 0 {
		t.Fatalf("p2 produced %v while p1 holds the lease", got)
	}
	clk.add(time.Second)
	if got := tick(t, p1); len(got) != 0 {
		t.Fatalf("nothing changed, yet p1 made %v", got)
	}

	// A revocation is on the next tick's CRL, and only its CA's.
	c.add(t, "qca-demo", 0x77, clk.now().Add(365*24*time.Hour), store.CertStatusRevoked, clk.now().Add(-time.Second), ip(1))
	clk.add(10 * time.Second)
	if got := tick(t, p1); !equalMap(got, map[string]int64{"qca-demo": 3}) {
		t.Fatalf("after a revocation p1 made %v", got)
	}
	// A hold lifted changes the count but leaves no time: still seen.
	c.add(t, "qca-demo", 0x78, clk.now().Add(365*24*time.Hour), store.CertStatusOnHold, clk.now().Add(-time.Second), ip(6))
	clk.add(10 * time.Second)
	tick(t, p1)
	c.setStatus(t, "qca-demo", 0x78, store.CertStatusValid, nil, nil)
	clk.add(10 * time.Second)
	if got := tick(t, p1); !equalMap(got, map[string]int64{"qca-demo": 5}) {
		t.Fatalf("after a hold lifted p1 made %v", got)
	}
	// The schedule re-issues every CRL.
	clk.add(24 * time.Hour)
	if got := tick(t, p1); !equalMap(got, map[string]int64{"root-demo": 3, "qca-demo": 6, "svc-demo": 3, "mgmt-demo": 3}) {
		t.Fatalf("after the interval p1 made %v", got)
	}

	// p1 is killed: it stops renewing and never releases. Within the TTL
	// p2 still may not produce; after it, p2 takes over and makes every
	// CRL with the next numbers.
	clk.add(30 * time.Second)
	if got := tick(t, p2); len(got) != 0 {
		t.Fatalf("p2 produced %v before p1's lease expired", got)
	}
	clk.add(31 * time.Second)
	if got := tick(t, p2); !equalMap(got, map[string]int64{"root-demo": 4, "qca-demo": 7, "svc-demo": 4, "mgmt-demo": 4}) {
		t.Fatalf("p2 after takeover made %v", got)
	}
	if got := tick(t, p1); len(got) != 0 {
		t.Fatalf("p1 came back and produced %v under p2's lease", got)
	}
	latest, err := c.st.LatestCRL(context.Background(), "qca-demo")
	if err != nil || latest.Number.Cmp(big.NewInt(7)) != 0 {
		t.Fatalf("latest CRL %v, %v", latest.Number, err)
	}
}

// TestCRLProducersRace: eight CRLs of one CA made at once on one database
// (as `muhr crl generate` next to the producer): each gets its own number,
// none is lost.
func TestCRLProducersRace(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			c := newCRLCenter(t, open, name == "postgres")
			clk := &clock{t: time.Now()}
			ps := []*ca.CRLProducer{producer(c, c.st, "p1", clk), producer(c, c.st, "p2", clk)}
			// Generators racing without the lease still never reuse a number.
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := ps[i%2].Gen.Generate(context.Background(), "qca-demo")
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			latest, err := c.st.LatestCRL(context.Background(), "qca-demo")
			if err != nil || latest.Number.Cmp(big.NewInt(9)) != 0 {
				t.Fatalf("after 8 racing CRLs the latest is #%v (%v), want #9", latest.Number, err)
			}
		})
	}
}

func equalMap(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A producer limited to some CAs (the others' keys are offline) makes only
// theirs.
func TestCRLProducerOnlyItsCAs(t *testing.T) {
	c := newCRLCenter(t, backends(t)["sqlite"], false)
	clk := &clock{t: time.Now()}
	p := producer(c, c.st, "p1", clk)
	p.CAs = []string{"qca-demo", "svc-demo"}
	if got := tick(t, p); !equalMap(got, map[string]int64{"qca-demo": 2, "svc-demo": 2}) {
		t.Fatalf("made %v", got)
	}
}
