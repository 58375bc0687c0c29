package policy

import (
	"errors"
	"fmt"
	"io"
	"math/big"
)

// serialBits is the size of a serial: 127 random bits plus a fixed top bit.
// Fixing bit 127 gives every serial the same DER length (17 octets with the
// leading zero, well under RFC 5280's 20) and at least 64 random bits
// (CA/B BR 7.1, STANDARDS.md) while staying far below 2^159.
const serialBits = 128

// NewSerial draws a certificate serial from rand: positive, exactly 128 bits
// long (so ≥ 64 bits of entropy and < 2^159), encoded in 17 DER octets.
func NewSerial(rand io.Reader) (*big.Int, error) {
	if rand == nil {
		return nil, errors.New("serial: no randomness source")
	}
	b := make([]byte, serialBits/8)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("serial: reading randomness: %w", err)
	}
	// Setting the top bit makes the value non-zero and fixes its length;
	// big.Int.SetBytes reads unsigned, so it is positive, and DER adds the
	// 0x00 that keeps it positive on the wire.
	b[0] |= 0x80
	return new(big.Int).SetBytes(b), nil
}
