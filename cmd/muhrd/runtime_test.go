package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/config"
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

func TestGOMAXPROCSChoice(t *testing.T) {
	for _, c := range []struct {
		name          string
		set           int
		signs, envSet bool
		want          int
	}{
		{"signing role: one P more per session", 0, true, false, 2 + 4},
		{"no role signs: Go's own", 0, false, false, 2},
		{"GOMAXPROCS in the environment wins over the default", 0, true, true, 2},
		{"-1: Go's own", -1, true, false, 2},
		{"a setting wins over all", 3, true, true, 3},
		{"a setting without signing roles", 5, false, false, 5},
	} {
		if got := gomaxprocs(config.Runtime{GOMAXPROCS: c.set}, 2, 4, c.signs, c.envSet); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

// TestGOMAXPROCSWhileServing: muhrd as main runs it, with a role that signs
// on the token, serves with one P more per token session and gives the
// process its GOMAXPROCS back when it stops; GOMAXPROCS in the environment
// or runtime.gomaxprocs: -1 leaves it alone, a positive setting is used.
func TestGOMAXPROCSWhileServing(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(base)
	check := func(name, ocspYAML string, want int) {
		t.Helper()
		_, _, d := startOCSPOwning(t, true, "ocsp: {enabled: true}\n"+ocspYAML)
		if got := runtime.GOMAXPROCS(0); got != want {
			t.Errorf("%s: GOMAXPROCS %d while serving, want %d (Go's own %d)", name, got, want, base)
		}
		d.stop(t)
		if got := runtime.GOMAXPROCS(0); got != base {
			t.Errorf("%s: GOMAXPROCS %d after muhrd stopped, want %d back", name, got, base)
		}
	}
	check("default, 4 sessions", "", base+4)
	check("set", "runtime: {gomaxprocs: 7}\n", 7)
	check("off", "runtime: {gomaxprocs: -1}\n", base)
	t.Setenv("GOMAXPROCS", strconv.Itoa(base))
	check("environment", "", base)
}
