package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func readUint(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestHeapFloorWhileServing: muhrd as main runs it lifts the heap goal to
// runtime.gc_heap_floor_bytes while it serves, and gives GOGC back when it
// stops; a negative floor leaves the collector alone.
func TestHeapFloorWhileServing(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	db := "  driver: sqlite\n  path: " + migratedSQLite(t) + "\n"
	const floor = 512 << 20
	d := startDaemonOwning(t, true, roleTable(), "--config",
		writeConfig(t, db, tsaSection, "runtime:\n  gc_heap_floor_bytes: 536870912\n"), "--roles", "repository")
	deadline := time.Now().Add(10 * time.Second)
	for readUint("/gc/heap/goal:bytes") < floor*9/10 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if g := readUint("/gc/heap/goal:bytes"); g < floor*9/10 {
		t.Fatalf("heap goal %d MiB while serving with a 512 MiB floor (GOGC %d)", g>>20, int(readUint("/gc/gogc:percent")))
	}
	d.stop(t)
	if p := int(readUint("/gc/gogc:percent")); p != 100 {
		t.Fatalf("GOGC %d after muhrd stopped, want 100 back", p)
	}

	d = startDaemonOwning(t, true, roleTable(), "--config",
		writeConfig(t, db, tsaSection, "runtime:\n  gc_heap_floor_bytes: -1\n"), "--roles", "repository")
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	runtime.GC()
	if p := int(readUint("/gc/gogc:percent")); p != 100 {
		t.Fatalf("GOGC %d with the floor off, want 100", p)
	}
}
