package sqlstore

import (
	"math/big"
	"testing"
	"time"
)

func TestRebind(t *testing.T) {
	pg, lite := &Dialect{DollarPlaceholders: true}, &Dialect{}
	q := "INSERT INTO t (a, b, c) VALUES (?, CAST(? AS TEXT), ?)"
	if got, want := pg.rebind(q), "INSERT INTO t (a, b, c) VALUES ($1, CAST($2 AS TEXT), $3)"; got != want {
		t.Errorf("postgres rebind = %q, want %q", got, want)
	}
	if got := lite.rebind(q); got != q {
		t.Errorf("sqlite rebind changed the query: %q", got)
	}
}

// Both encodings of a time decode to the same UTC instant, truncated to
// what the databases keep.
func TestTimeCodec(t *testing.T) {
	at := time.Date(2026, 3, 21, 9, 30, 15, 123456789, time.FixedZone("TJT", 5*3600))
	want := at.UTC().Truncate(time.Microsecond)
	for _, d := range []*Dialect{{MicrosecondTimes: true}, {}} {
		var got time.Time
		if err := (timeInto{&got}).Scan(d.time(at)); err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("micro=%v: %v, %v; want %v UTC", d.MicrosecondTimes, got, err, want)
		}
	}
	var p *time.Time = &want
	if err := (nullTimeInto{&p}).Scan(nil); err != nil || p != nil {
		t.Errorf("NULL time scanned as %v, %v", p, err)
	}
	if err := (timeInto{new(time.Time)}).Scan("yesterday"); err == nil {
		t.Error("a text time was accepted")
	}
}

func TestHexInto(t *testing.T) {
	var n *big.Int
	if err := (hexInto{&n}).Scan("abc123"); err != nil || n.Cmp(big.NewInt(0xabc123)) != 0 {
		t.Errorf("hex scanned as %v, %v", n, err)
	}
	if err := (hexInto{&n}).Scan("xyz"); err == nil {
		t.Error("bad hex accepted")
	}
}
