package tsa

import (
	"bytes"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"
)

func TestDERIntegerMatchesEncodingASN1(t *testing.T) {
	big160 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 160), big.NewInt(1))
	for _, n := range []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(127), big.NewInt(128), big.NewInt(255),
		big.NewInt(256), big.NewInt(-1), big.NewInt(-129), big160} {
		want, err := asn1.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		if got := derInteger(n); !bytes.Equal(got, want) {
			t.Errorf("%s: %x, want %x", n, got, want)
		}
	}
}

func TestGeneralizedTimeFraction(t *testing.T) {
	base := time.Date(2026, 12, 1, 22, 36, 28, 0, time.UTC)
	for ns, want := range map[int]string{
		0: "20261201223628Z", 100_000_000: "20261201223628.1Z", 144_113_000: "20261201223628.144113Z",
		1_000: "20261201223628.000001Z", 999_999_999: "20261201223628.999999999Z",
	} {
		if got := generalizedTime(base.Add(time.Duration(ns))); got != want {
			t.Errorf("%d ns: %s, want %s", ns, got, want)
		}
	}
	// Any zone is written in UTC.
	if got := generalizedTime(base.In(time.FixedZone("TJT", 5*3600))); got != "20261201223628Z" {
		t.Errorf("zoned: %s", got)
	}
}
