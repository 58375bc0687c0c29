package config

import (
	"strconv"
	"strings"
	"testing"
)

func TestRuntimeGOMAXPROCS(t *testing.T) {
	for _, ok := range []string{"-1", "0", "8"} {
		c, err := Load(write(t, good+"runtime:\n  gomaxprocs: "+ok+"\n"))
		if err != nil {
			t.Fatalf("runtime.gomaxprocs %s: %v", ok, err)
		}
		if got := c.Runtime.GOMAXPROCS; ok != strconv.Itoa(got) {
			t.Errorf("runtime.gomaxprocs %s read as %d", ok, got)
		}
	}
	for _, bad := range []string{"-2", "5000"} {
		if _, err := Load(write(t, good+"runtime:\n  gomaxprocs: "+bad+"\n")); err == nil || !strings.Contains(err.Error(), "runtime.gomaxprocs") {
			t.Errorf("runtime.gomaxprocs %s: %v, want an error naming it", bad, err)
		}
	}
}
