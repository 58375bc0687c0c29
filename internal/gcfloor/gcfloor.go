// Package gcfloor keeps the garbage collector's heap goal from falling
// below a floor.
//
// Go sets the next heap goal at live heap × (1 + GOGC/100). muhrd's live
// heap is small (a few MiB with a cold cache) while every request
// allocates, so with the default GOGC=100 it collected about 30 times a
// second under OCSP load, and each cycle stops the world twice: on the
// benchmark machine that was about a tenth of the server's CPU. A floor
// (as the JVM's -Xms gives) lets a small heap grow to the floor before it
// is collected, and changes nothing once the live heap is large: the
// percentage is raised only as far as the floor needs, and set back to the
// base when the live heap alone reaches it. GOMEMLIMIT, when set, still
// bounds the heap; the runtime honours it over any percentage.
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Percent is the GOGC percentage that puts the heap goal at floor for a
// live heap of live bytes, never below base (the operator's GOGC).
func Percent(floor, live uint64, base int) int {
	if live == 0 {
		live = 1
	}
	if floor <= live {
		return base
	}
	// goal = live × (1 + p/100) ≥ floor  ⇔  p ≥ 100 × (floor − live) / live
	p := (floor - live) * 100 / live
	const most = 1 << 20 // a bound against a near-empty heap's huge ratios
	if p > most {
		p = most
	}
	return max(int(p), base)
}

// Floor is a running adjustment; Stop ends it and restores the base.
type Floor struct {
	floor uint64
	base  int
	mu    sync.Mutex
	set   int
	done  bool
}

// Start keeps the heap goal at or above floor bytes from now on, adjusting
// GOGC after every collection. base is the percentage otherwise used (the
// GOGC environment value the process started with); a negative base
// (GOGC=off) or a floor of 0 leaves the collector alone and returns a
// Floor whose Stop does nothing.
func Start(floor uint64, base int) *Floor {
	f := &Floor{floor: floor, base: base, set: base}
	if floor == 0 || base < 0 {
		f.done = true
		return f
	}
	f.adjust()
	f.arm()
	return f
}

// arm runs adjust after the next collection: a sentinel that only the
// collector can free, whose cleanup re-arms itself.
func (f *Floor) arm() {
	s := new([16]byte) // large enough not to be a tiny-allocator object kept alive by a neighbour
	runtime.AddCleanup(s, func(f *Floor) {
		f.mu.Lock()
		done := f.done
		f.mu.Unlock()
		if done {
			return
		}
		f.adjust()
		f.arm()
	}, f)
}

// adjust sets the percentage for the live heap the last cycle measured,
// when it moved by more than a tenth (SetGCPercent takes the heap lock).
func (f *Floor) adjust() {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	p := Percent(f.floor, s[0].Value.Uint64(), f.base)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return
	}
	if d := p - f.set; d*10 > f.set || -d*10 > f.set || (p == f.base && f.set != f.base) {
		debug.SetGCPercent(p)
		f.set = p
	}
}

// Stop ends the adjustment and puts GOGC back to the base.
func (f *Floor) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return
	}
	f.done = true
	debug.SetGCPercent(f.base)
}

// Base is the GOGC percentage the process started with: the GOGC
// environment value read by the runtime (100 unless set; -1 for off).
func Base() int { return gogc() }

func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 100
	}
	return int(s[0].Value.Uint64())
}
