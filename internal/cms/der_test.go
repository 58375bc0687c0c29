package cms

import (
	"bytes"
	"testing"
)

// HdrLen is the length AppendHdr writes, and TLV's header is asn1's.
func TestHeaderLengths(t *testing.T) {
	for _, n := range []int{0, 1, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0xffff, 0x10000, 0x12345} {
		if got := len(AppendHdr(nil, 0x04, n)); got != HdrLen(n) {
			t.Errorf("%d: appendHdr wrote %d octets, hdrLen says %d", n, got, HdrLen(n))
		}
		want := MustMarshal(make([]byte, n))
		if got := TLV(0x04, make([]byte, n)); !bytes.Equal(got, want) {
			t.Errorf("%d: tlv header %x, want %x", n, got[:HdrLen(n)], want[:min(len(want), 5)])
		}
	}
}
