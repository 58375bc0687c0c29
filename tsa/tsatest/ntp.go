package tsatest

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// FakeNTP is an NTPv4 server on 127.0.0.1 that answers with the real time
// plus a skew the test sets.
type FakeNTP struct {
	Addr string
	skew atomic.Int64
	conn net.PacketConn
}

// NewFakeNTP starts a server; it stops when the test ends.
func NewFakeNTP(t testing.TB) *FakeNTP {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &FakeNTP{Addr: c.LocalAddr().String(), conn: c}
	done := make(chan struct{})
	go f.serve(done)
	t.Cleanup(func() { c.Close(); <-done })
	return f
}

// SetSkew makes the server's time run d ahead of (negative: behind) the
// real time.
func (f *FakeNTP) SetSkew(d time.Duration) { f.skew.Store(int64(d)) }

const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970

func ntpTime(t time.Time) uint64 {
	secs := uint64(t.Unix() + ntpEpochOffset)
	frac := (uint64(t.Nanosecond()) << 32) / 1e9
	return secs<<32 | frac
}

func (f *FakeNTP) serve(done chan struct{}) {
	defer close(done)
	buf := make([]byte, 512)
	for {
		n, from, err := f.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if n < 48 {
			continue
		}
		recv := time.Now().Add(time.Duration(f.skew.Load()))
		out := make([]byte, 48)
		out[0] = 0<<6 | 4<<3 | 4                  // leap none, version 4, mode server
		out[1] = 2                                // stratum 2
		out[2] = buf[2]                           // poll
		out[3] = 0xEC                             // precision 2^-20
		binary.BigEndian.PutUint32(out[4:], 1<<8) // root delay ~4 ms
		binary.BigEndian.PutUint32(out[8:], 1<<8) // root dispersion ~4 ms
		copy(out[12:16], []byte{127, 0, 0, 1})    // reference id
		binary.BigEndian.PutUint64(out[16:], ntpTime(recv.Add(-time.Minute)))
		copy(out[24:32], buf[40:48]) // origin = client's transmit
		binary.BigEndian.PutUint64(out[32:], ntpTime(recv))
		binary.BigEndian.PutUint64(out[40:], ntpTime(time.Now().Add(time.Duration(f.skew.Load()))))
		_, _ = f.conn.WriteTo(out, from)
	}
}
