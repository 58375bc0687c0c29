package hsm

import (
	"strings"
	"testing"
)

func TestParseKeyAlgorithm(t *testing.T) {
	for _, a := range Algorithms {
		got, err := ParseKeyAlgorithm(strings.ToUpper(string(a)))
		if err != nil || got != a {
			t.Fatalf("ParseKeyAlgorithm(%s) = %v, %v", a, got, err)
		}
	}
	if _, err := ParseKeyAlgorithm("dsa-1024"); err == nil {
		t.Fatal("dsa-1024 accepted")
	}
}
