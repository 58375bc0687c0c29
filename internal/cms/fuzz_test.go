package cms

import (
	"bytes"
	"testing"
)

// FuzzParseSignedData: whatever the octets, the parser answers with a
// SignedData or an error wrapping ErrFormat, never a panic, and the
// normaliser's output is DER that normalises to itself.
func FuzzParseSignedData(f *testing.F) {
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80, 0x30, 0x80, 0, 0, 0, 0, 0, 0})
	f.Add(bytes.Repeat([]byte{0x30, 0x80}, 100))
	f.Add([]byte{0x24, 0x80, 0x04, 0x01, 'a', 0x24, 0x80, 0x04, 0x00, 0, 0, 0, 0})
	f.Add(Seq(MustMarshal(OIDSignedData), TLV(0xa0, Seq([]byte{2, 1, 1}, TLV(0x31, nil), Seq(MustMarshal(OIDData)), TLV(0x31, nil)))))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := Normalize(b); err == nil {
			d2, err := Normalize(d)
			if err != nil || !bytes.Equal(d, d2) {
				t.Fatalf("normalised output does not normalise to itself: %v", err)
			}
		}
		if _, err := ParseSignedData(b); err == nil {
			return
		}
		_, _, _ = ParseTimeStampToken(b)
		_, _ = ParseCertsOnly(b)
	})
}
