package tsa_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/tsa"
)

// rawTSTInfo is the TSTInfo of a reply with its fields as raw DER.
type rawTSTInfo struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint asn1.RawValue
	SerialNumber   *big.Int
	GenTime        asn1.RawValue
	Rest           asn1.RawValue `asn1:"optional"`
}

func tstInfoOf(t testing.TB, reply []byte) rawTSTInfo {
	t.Helper()
	_, p7 := tokenOf(t, reply)
	var info rawTSTInfo
	if _, err := asn1.Unmarshal(p7.Content, &info); err != nil {
		t.Fatalf("TSTInfo: %v", err)
	}
	return info
}

// RFC 3161 §2.4.2: the token's messageImprint is the request's, byte for
// byte, whether the SHA-256 AlgorithmIdentifier has NULL or absent
// parameters; openssl verifies both.
func TestMessageImprintByteForByte(t *testing.T) {
	ossl := openssl(t)
	e := newEnv(t, nil, nil)
	dir := t.TempDir()
	data := []byte("Қарори ҳукумат № 17")
	digest := sha256.Sum256(data)
	for name, params := range map[string]asn1.RawValue{"absent": {}, "NULL": asn1.NullRawValue} {
		t.Run(name, func(t *testing.T) {
			q := request(t, func(q *tsReq) {
				q.MessageImprint.HashAlgorithm = pkix.AlgorithmIdentifier{Algorithm: oidSHA256, Parameters: params}
				q.MessageImprint.HashedMessage = digest[:]
			})
			var parsed struct {
				Version        int
				MessageImprint asn1.RawValue
				Rest           asn1.RawValue `asn1:"optional"`
			}
			if _, err := asn1.Unmarshal(q, &parsed); err != nil {
				t.Fatal(err)
			}
			if name == "absent" && bytes.Contains(parsed.MessageImprint.FullBytes, asn1.NullBytes) {
				t.Fatal("test request has NULL parameters")
			}
			reply := e.post(t, q)
			info := tstInfoOf(t, reply)
			if !bytes.Equal(info.MessageImprint.FullBytes, parsed.MessageImprint.FullBytes) {
				t.Fatalf("token messageImprint %x, request's %x", info.MessageImprint.FullBytes, parsed.MessageImprint.FullBytes)
			}
			tsr := writeFile(t, dir, "r.tsr", reply)
			doc := writeFile(t, dir, "doc", data)
			out := run(t, ossl, "ts", "-verify", "-data", doc, "-in", tsr, "-CAfile", e.pki.RootPEM, "-untrusted", e.pki.ChainPEM)
			if !strings.Contains(out, "Verification: OK") {
				t.Fatalf("openssl ts -verify: %s", out)
			}
		})
	}
}

// genTime carries the clock's reading truncated to the microsecond, never
// rounded up: it is never later than the moment the client holds the
// reply, nor earlier than the request minus that precision. Its encoding
// drops trailing zeros of the fraction (RFC 3161 §2.4.2). The token has no
// signingTime to disagree with it.
func TestGenTimeFractionNeverLater(t *testing.T) {
	e := newEnv(t, nil, nil)
	fractions := 0
	for range 30 {
		before := time.Now()
		reply := e.post(t, request(t, nil))
		after := time.Now()
		info := tstInfoOf(t, reply)
		if info.GenTime.Tag != asn1.TagGeneralizedTime {
			t.Fatalf("genTime tag %d", info.GenTime.Tag)
		}
		s := string(info.GenTime.Bytes)
		if strings.Contains(s, ".") {
			fractions++
			if frac := s[strings.Index(s, ".")+1 : len(s)-1]; strings.HasSuffix(frac, "0") || len(frac) > 6 {
				t.Fatalf("genTime %s: fraction with trailing zeros or beyond microseconds", s)
			}
		}
		gt, err := time.Parse("20060102150405.999999999Z", s)
		if err != nil {
			t.Fatalf("genTime %q: %v", s, err)
		}
		if gt.After(after) || gt.Before(before.Truncate(time.Microsecond)) {
			t.Fatalf("genTime %s outside [%s, %s]", gt.Format(time.RFC3339Nano), before.UTC().Format(time.RFC3339Nano),
				after.UTC().Format(time.RFC3339Nano))
		}
		_, p7 := tokenOf(t, reply)
		if hasAttr(p7, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}) {
			t.Fatal("token carries signingTime")
		}
		if !hasAttr(p7, oidSigningCertV2) {
			t.Fatal("token lacks ESSCertIDv2")
		}
	}
	if fractions == 0 {
		t.Fatal("no genTime in 30 had a fraction: whole seconds")
	}
}

// The stated accuracy covers the clock's tolerated error plus genTime's
// precision; a configuration promising better is refused.
func TestAccuracyCoversClockError(t *testing.T) {
	e := newEnv(t, nil, func(o *tsa.Options) { o.Accuracy, o.ClockError = 250*time.Millisecond, 200*time.Millisecond })
	text := run(t, openssl(t), "ts", "-reply", "-in", writeFile(t, t.TempDir(), "r.tsr", e.post(t, request(t, nil))), "-text")
	if !strings.Contains(text, "Accuracy: unspecified seconds, 0xFA millis, unspecified micros") {
		t.Fatalf("accuracy 250ms not stated:\n%s", text)
	}
	pki := e.pki
	unit, err := tsa.LoadUnit(t.Context(), pki.Store, pki.Token, pki.TSACA, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ acc, clockErr time.Duration }{
		{500 * time.Millisecond, 500 * time.Millisecond}, {time.Second, 2 * time.Second}, {2 * time.Second, 0},
	} {
		_, err := tsa.New(tsa.Options{Unit: unit, Ledger: tsa.StoreLedger(pki.Store), Clock: realClock,
			Accuracy: c.acc, ClockError: c.clockErr})
		if err == nil || !strings.Contains(err.Error(), "accuracy") {
			t.Errorf("accuracy %s with clock error %s: err = %v, want a refusal", c.acc, c.clockErr, err)
		}
	}
}
