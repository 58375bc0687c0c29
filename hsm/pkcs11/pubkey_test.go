package pkcs11

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"slices"
	"testing"
)

func TestECPublicKey(t *testing.T) {
	for _, c := range []struct {
		curve elliptic.Curve
		oid   asn1.ObjectIdentifier
	}{{elliptic.P256(), oidP256}, {elliptic.P384(), oidP384}} {
		k, err := ecdsa.GenerateKey(c.curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := k.PublicKey.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		wrapped, _ := asn1.Marshal(raw)
		for name, point := range map[string][]byte{"DER": wrapped, "bare": raw} {
			pub, err := ecPublicKey(ecParams(c.oid), point)
			if err != nil || !pub.Equal(&k.PublicKey) {
				t.Fatalf("%s %s point: %v", c.curve.Params().Name, name, err)
			}
		}
		if _, err := ecPublicKey(ecParams(c.oid), wrapped[:len(wrapped)-1]); err == nil {
			t.Fatal("truncated point accepted")
		}
	}
	if _, err := ecPublicKey([]byte{0x30, 0x00}, nil); err == nil {
		t.Fatal("explicit curve parameters accepted")
	}
}

func TestECDSADER(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := sha256.Sum256([]byte("muhr"))
	r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 64) // what a token returns: fixed-width r‖s
	r.FillBytes(raw[:32])
	s.FillBytes(raw[32:])
	der, err := ecdsaDER(raw)
	if err != nil || !ecdsa.VerifyASN1(&k.PublicKey, d[:], der) {
		t.Fatalf("converted signature does not verify: %v", err)
	}
	var back struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &back); err != nil || back.R.Cmp(r) != 0 || back.S.Cmp(s) != 0 {
		t.Fatal("r, s changed")
	}
	if _, err := ecdsaDER(raw[:63]); err == nil {
		t.Fatal("odd-length signature accepted")
	}
	// Leading zeros, high bits, zero, and P-521's 66-octet halves (a
	// SEQUENCE over 127 octets) encode as encoding/asn1 does.
	for _, half := range []int{32, 48, 66} {
		for _, c := range [][2][]byte{
			{bytes.Repeat([]byte{0xff}, half), bytes.Repeat([]byte{0x01}, half)},
			{append(make([]byte, 3), bytes.Repeat([]byte{0x80}, half-3)...), append(make([]byte, half-1), 0x7f)},
			{make([]byte, half), make([]byte, half)},
		} {
			raw := slices.Concat(c[0], c[1])
			got, err := ecdsaDER(raw)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(c[0]), new(big.Int).SetBytes(c[1])})
			if !bytes.Equal(got, want) {
				t.Errorf("%x: %x, want %x", raw, got, want)
			}
		}
	}
}

func TestDigestInfoPrefixes(t *testing.T) {
	// The prefix's last byte is the digest length, and the DER length in
	// byte 1 covers the rest of DigestInfo including the digest.
	for h, p := range digestInfoPrefix {
		if int(p[len(p)-1]) != h.Size() || int(p[1]) != len(p)-2+h.Size() {
			t.Errorf("%v prefix malformed", h)
		}
	}
	if _, ok := digestInfoPrefix[crypto.SHA1]; ok {
		t.Error("SHA-1 must not be offered")
	}
}
