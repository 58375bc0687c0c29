package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		floor, live uint64
		base, want  int
	}{
		{64 << 20, 2 << 20, 100, 3100},  // a small heap grows to the floor
		{64 << 20, 32 << 20, 100, 100},  // 32 MiB × 2 reaches it: the base
		{64 << 20, 40 << 20, 100, 100},  // never below the base
		{64 << 20, 128 << 20, 100, 100}, // a large heap: the base
		{64 << 20, 16 << 20, 400, 400},  // the operator's GOGC is kept when higher
		{64 << 20, 0, 100, 1 << 20},     // an empty heap: bounded
		{64 << 20, 64 << 20, 100, 100},  // exactly the floor
		{1 << 30, 100 << 20, 50, 924},   // (1024−100)×100/100 = 924
	} {
		if got := Percent(c.floor, c.live, c.base); got != c.want {
			t.Errorf("Percent(%d, %d, %d) = %d, want %d", c.floor, c.live, c.base, got, c.want)
		}
	}
}

func heapGoal() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// waitGOGC collects until the adjustment (run after a cycle) gives want.
func waitGOGC(t *testing.T, ok func(int) bool) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if p := gogc(); ok(p) || time.Now().After(deadline) {
			return p
		}
	}
}

// TestFloorFollowsLiveHeap runs the real adjustment on this process: with
// a small live heap the goal is lifted to the floor, with a live heap over
// the floor GOGC is the base again, and Stop restores the base.
func TestFloorFollowsLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	const floor = 256 << 20
	f := Start(floor, 100)
	defer f.Stop()
	if p := waitGOGC(t, func(p int) bool { return p > 100 }); p <= 100 {
		t.Fatalf("GOGC = %d with a small heap and a 256 MiB floor, want it raised", p)
	}
	if g := heapGoal(); g < floor*9/10 {
		t.Fatalf("heap goal %d MiB, want about the 256 MiB floor", g>>20)
	}

	// A live heap over the floor: the base, so the heap is not doubled
	// past what GOGC=100 would give.
	big := make([][]byte, 0, 320)
	for range 320 {
		big = append(big, make([]byte, 1<<20))
	}
	if p := waitGOGC(t, func(p int) bool { return p == 100 }); p != 100 {
		t.Fatalf("GOGC = %d with 320 MiB live over a 256 MiB floor, want the base 100", p)
	}
	runtime.KeepAlive(big)
	big = nil

	// Freed again: raised again.
	if p := waitGOGC(t, func(p int) bool { return p > 100 }); p <= 100 {
		t.Fatalf("GOGC = %d after the heap shrank, want it raised again", p)
	}
	f.Stop()
	if p := gogc(); p != 100 {
		t.Fatalf("GOGC = %d after Stop, want the base 100", p)
	}
	// A stopped floor no longer adjusts.
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	runtime.GC()
	if p := gogc(); p != 100 {
		t.Fatalf("GOGC = %d after Stop and two collections, want 100", p)
	}
}

func TestFloorOffLeavesCollectorAlone(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, f := range []*Floor{Start(0, 100), Start(256<<20, -1)} {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if p := gogc(); p != 100 {
			t.Fatalf("GOGC = %d, want untouched 100", p)
		}
		f.Stop()
	}
}
