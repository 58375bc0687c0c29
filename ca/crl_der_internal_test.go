package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"
)

func TestDERHeaderMatchesASN1(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 255, 256, 65535, 65536, 3 << 20} {
		want, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: 16, IsCompound: true, Bytes: make([]byte, n)})
		if err != nil {
			t.Fatal(err)
		}
		if got := derHeader(0x30, n); !bytes.Equal(got, want[:len(want)-n]) {
			t.Fatalf("length %d: header %x, want %x", n, got, want[:len(want)-n])
		}
	}
}

// The hand-written CRL parses with crypto/x509 and says what was put in:
// invalidityDate (GeneralizedTime), a revocation after 2049 (GeneralizedTime,
// as RFC 5280 wants), reasons, no reasonCode for unspecified, and an empty
// CRL without a revokedCertificates field.
func TestHandWrittenCRLParses(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	this := time.Date(2051, 1, 2, 3, 4, 5, 0, time.UTC)
	inv := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	var entries []byte
	for _, in := range []entryInput{
		{serial: big.NewInt(1), revokedAt: time.Date(2026, 5, 7, 0, 0, 0, 0, time.UTC), reason: 1, invalidityDate: &inv},
		{serial: big.NewInt(2), revokedAt: time.Date(2050, 6, 1, 0, 0, 0, 0, time.UTC)},
		{serial: new(big.Int).Lsh(big.NewInt(1), 158), revokedAt: inv, reason: reasonCertificateHold},
	} {
		if entries, err = appendEntry(entries, in, this); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []entryInput{
		{serial: big.NewInt(3), revokedAt: this.Add(time.Second)},
		{serial: big.NewInt(3), revokedAt: inv, reason: reasonRemoveFromCRL},
		{serial: big.NewInt(3), revokedAt: inv, reason: 7},
		{serial: big.NewInt(0), revokedAt: inv},
		{serial: new(big.Int).Lsh(big.NewInt(1), 159), revokedAt: inv},
	} {
		if _, err := appendEntry(nil, bad, this); err == nil {
			t.Fatalf("entry %+v accepted", bad)
		}
	}
	alg, err := sigAlgFor(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	issuer, _ := asn1.Marshal(pkix.Name{CommonName: "test CA"}.ToRDNSequence())
	sign := func(entries []byte) *x509.RevocationList {
		t.Helper()
		exts, err := crlExtensions(big.NewInt(7), []byte{1, 2, 3}, &inv)
		if err != nil {
			t.Fatal(err)
		}
		tbs, err := buildTBS(alg, issuer, this, this.Add(time.Hour), entries, exts)
		if err != nil {
			t.Fatal(err)
		}
		h := alg.hash.New()
		tbs.each(func(b []byte) { h.Write(b) })
		sig, err := key.Sign(rand.Reader, h.Sum(nil), alg.hash)
		if err != nil {
			t.Fatal(err)
		}
		rl, err := x509.ParseRevocationList(assembleCRL(tbs, alg, sig))
		if err != nil {
			t.Fatal(err)
		}
		h = alg.hash.New()
		h.Write(rl.RawTBSRevocationList)
		if !ecdsa.VerifyASN1(&key.PublicKey, h.Sum(nil), rl.Signature) {
			t.Fatal("signature over the parsed TBS does not verify")
		}
		return rl
	}
	rl := sign(entries)
	if rl.Number.Int64() != 7 || !bytes.Equal(rl.AuthorityKeyId, []byte{1, 2, 3}) || !rl.ThisUpdate.Equal(this) {
		t.Fatalf("header: number %v AKI %x this %v", rl.Number, rl.AuthorityKeyId, rl.ThisUpdate)
	}
	e := rl.RevokedCertificateEntries
	if len(e) != 3 || e[0].ReasonCode != 1 || e[1].ReasonCode != 0 || e[2].ReasonCode != 6 || e[2].SerialNumber.BitLen() != 159 {
		t.Fatalf("entries %+v", e)
	}
	if len(e[1].Extensions) != 0 {
		t.Fatalf("unspecified entry carries %v", e[1].Extensions)
	}
	if !e[1].RevocationTime.Equal(time.Date(2050, 6, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("2050 revocation read as %v", e[1].RevocationTime)
	}
	var got time.Time
	if len(e[0].Extensions) != 2 || !e[0].Extensions[1].Id.Equal(oidExtInvalidityDate) {
		t.Fatalf("entry 1 extensions %v", e[0].Extensions)
	}
	if _, err := asn1.UnmarshalWithParams(e[0].Extensions[1].Value, &got, "generalized"); err != nil || !got.Equal(inv) {
		t.Fatalf("invalidityDate %v (%v)", got, err)
	}
	fields := func(rl *x509.RevocationList) int {
		var seq asn1.RawValue
		if _, err := asn1.Unmarshal(rl.RawTBSRevocationList, &seq); err != nil {
			t.Fatal(err)
		}
		n := 0
		for rest := seq.Bytes; len(rest) > 0; n++ {
			var v asn1.RawValue
			if rest, err = asn1.Unmarshal(rest, &v); err != nil {
				t.Fatal(err)
			}
		}
		return n
	}
	// version, signature, issuer, thisUpdate, nextUpdate, [revoked,] extensions
	if empty := sign(nil); len(empty.RevokedCertificateEntries) != 0 || fields(empty) != 6 || fields(rl) != 7 {
		t.Fatalf("empty CRL: %d entries, %d TBS fields (full: %d)", len(empty.RevokedCertificateEntries), fields(empty), fields(rl))
	}
}
