package policy

import (
	"bytes"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
)

func TestNewSerialProperties(t *testing.T) {
	limit := new(big.Int).Lsh(big.NewInt(1), 159)
	seen := make(map[string]bool)
	const draws = 20000
	for i := 0; i < draws; i++ {
		s, err := NewSerial(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if s.Sign() <= 0 {
			t.Fatalf("serial %s not positive", s)
		}
		if s.BitLen() < 64 || s.BitLen() != serialBits {
			t.Fatalf("serial %x has %d bits", s, s.BitLen())
		}
		if s.Cmp(limit) >= 0 {
			t.Fatalf("serial %x not below 2^159", s)
		}
		der, err := asn1.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		// INTEGER tag, length 17, a 0x00 pad keeping it positive, 16 bytes.
		if len(der) != 19 || der[1] != 17 || der[2] != 0 {
			t.Fatalf("serial %x encodes as % x", s, der)
		}
		if seen[s.String()] {
			t.Fatalf("serial %x drawn twice", s)
		}
		seen[s.String()] = true
	}
}

func TestNewSerialFromZeros(t *testing.T) {
	// Even an all-zero source cannot produce zero: the top bit is fixed.
	s, err := NewSerial(bytes.NewReader(make([]byte, 16)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Sign() <= 0 || s.BitLen() != serialBits {
		t.Fatalf("serial %x from zeros", s)
	}
}

func TestNewSerialErrors(t *testing.T) {
	if _, err := NewSerial(nil); err == nil {
		t.Error("nil reader accepted")
	}
	_, err := NewSerial(bytes.NewReader(make([]byte, 5)))
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "serial") {
		t.Errorf("short read: got %v", err)
	}
}
