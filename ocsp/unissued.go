package ocsp

import (
	"container/list"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxUnissued is how many answers about never-issued serials an
// Authority keeps by default (config ocsp.unissued_cache): at about 1.5 KB
// each, some 15 MB.
const DefaultMaxUnissued = 10000

// unissuedCache holds the answers about serials under our issuers that
// were never issued (revoked 1970, extended-revoke). Any client can ask
// for any number of random serials, so unlike the answers about stored
// certificates (bounded by the store) these are capped, the oldest
// evicted first. The Authority's mutex guards it.
type unissuedCache struct {
	max     int
	byKey   map[cacheKey]*list.Element // values are *unissuedEntry
	order   *list.List                 // oldest first
	evicted prometheus.Counter
}

type unissuedEntry struct {
	k cacheKey
	c *Cached
}

func newUnissuedCache(max int, evicted prometheus.Counter) *unissuedCache {
	return &unissuedCache{max: max, byKey: map[cacheKey]*list.Element{}, order: list.New(), evicted: evicted}
}

func (u *unissuedCache) get(k cacheKey) *Cached {
	if e := u.byKey[k]; e != nil {
		return e.Value.(*unissuedEntry).c
	}
	return nil
}

// put stores c under k as the newest, evicting the oldest beyond max.
func (u *unissuedCache) put(k cacheKey, c *Cached) {
	if e := u.byKey[k]; e != nil {
		e.Value.(*unissuedEntry).c = c
		u.order.MoveToBack(e)
		return
	}
	u.byKey[k] = u.order.PushBack(&unissuedEntry{k: k, c: c})
	for u.order.Len() > u.max {
		old := u.order.Front()
		u.order.Remove(old)
		delete(u.byKey, old.Value.(*unissuedEntry).k)
		u.evicted.Inc()
	}
}

func (u *unissuedCache) remove(k cacheKey) {
	if e := u.byKey[k]; e != nil {
		u.order.Remove(e)
		delete(u.byKey, k)
	}
}

// removeIf drops every entry drop says to.
func (u *unissuedCache) removeIf(drop func(k cacheKey, c *Cached) bool) {
	for e := u.order.Front(); e != nil; {
		next := e.Next()
		if v := e.Value.(*unissuedEntry); drop(v.k, v.c) {
			u.order.Remove(e)
			delete(u.byKey, v.k)
		}
		e = next
	}
}

func (u *unissuedCache) len() int { return u.order.Len() }

// UnissuedCached is how many answers about never-issued serials are
// cached now (at most Options.MaxUnissued).
func (a *Authority) UnissuedCached() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.unissued.len()
}

// registerMetrics exposes the never-issued cache on reg (nil: nowhere):
// muhr_ocsp_unissued_cached and muhr_ocsp_unissued_evicted_total.
func (a *Authority) registerMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	size := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "muhr_ocsp_unissued_cached",
		Help: "OCSP answers about never-issued serials held in memory (capped by ocsp.unissued_cache)."},
		func() float64 { return float64(a.UnissuedCached()) })
	for _, c := range []prometheus.Collector{size, a.unissued.evicted} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
