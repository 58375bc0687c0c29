package verify_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/internal/cms"
	"github.com/muhr-pki/muhr/verify"
)

var doc = []byte("Приказ № 17: the document a ministry signs.\n")

func TestCAdESBDetachedPasses(t *testing.T) {
	p := newSoftPKI(t)
	cert, key := p.signer(t, nil)
	sig := p.sign(t, doc, cert, key, false, false)
	rep := p.validator(t, nil).Signature(context.Background(), sig, doc, nil)
	want(t, rep.Status, verify.Passed, "")
	s := rep.Signatures[0]
	if s.Certificate == nil || len(s.Certificate.Chain) != 3 || !s.Certificate.Chain[2].Anchor {
		t.Fatalf("chain: %+v", s.Certificate)
	}
	if len(s.Certificate.Revocation) == 0 || s.Certificate.Revocation[0].Source != "OCSP" || s.Certificate.Revocation[0].Status != "good" {
		t.Fatalf("revocation: %+v", s.Certificate.Revocation)
	}
	if s.SigningTime == nil || s.Certificate.POE {
		t.Fatalf("signing time %v, POE %v", s.SigningTime, s.Certificate.POE)
	}
}

func TestAttachedPassesAndOtherContentFails(t *testing.T) {
	p := newSoftPKI(t)
	cert, key := p.signer(t, nil)
	v := p.validator(t, nil)
	att := p.sign(t, doc, cert, key, false, true)
	want(t, v.Signature(context.Background(), att, nil, nil).Status, verify.Passed, "")
	want(t, v.Signature(context.Background(), att, []byte("other"), nil).Status, verify.Failed, verify.FormatFailure)
	det := p.sign(t, doc, cert, key, false, false)
	want(t, v.Signature(context.Background(), det, []byte("another document"), nil).Status, verify.Failed, verify.HashFailure)
	want(t, v.Signature(context.Background(), det, nil, nil).Status, verify.Indeterminate, verify.SignedDataNotFound)
}

func TestTamperedSignedAttributeFails(t *testing.T) {
	p := newSoftPKI(t)
	cert, key := p.signer(t, nil)
	sig := p.sign(t, doc, cert, key, false, false)
	// The signingTime is UTCTime "YYMMDDhhmmssZ": change one digit of
	// the seconds inside the signed attributes.
	i := bytes.Index(sig, []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05})
	if i < 0 {
		t.Fatal("no signingTime attribute")
	}
	j := i + 11 + 2 + 2 + 11 // OID, SET header, UTCTime header, to the last seconds digit
	bad := bytes.Clone(sig)
	bad[j] ^= 0x01
	rep := p.validator(t, nil).Signature(context.Background(), bad, doc, nil)
	want(t, rep.Status, verify.Failed, verify.SigCryptoFailure)
}

func TestUnknownCAIndeterminate(t *testing.T) {
	p, other := newSoftPKI(t), newSoftPKI(t)
	cert, key := other.signer(t, nil)
	rep := p.validator(t, nil).Signature(context.Background(), other.sign(t, doc, cert, key, false, false), doc, nil)
	want(t, rep.Status, verify.Indeterminate, verify.NoCertificateChainFound)
}

func TestMissingIntermediateFetchedFromAIA(t *testing.T) {
	p := newSoftPKI(t)
	cert, _ := p.signer(t, nil)
	r := p.validator(t, nil).Certificate(context.Background(), cert, nil, time.Now(), false, verify.UsageSigning)
	want(t, r.Status, verify.Passed, "")
	found := false
	for _, c := range r.Checks {
		found = found || (c.Name == "aia" && c.OK)
	}
	if !found {
		t.Fatalf("no AIA fetch in %+v", r.Checks)
	}
}

func TestCAdESTRevocationBeforeAndAfterTimestamp(t *testing.T) {
	p := newSoftPKI(t)
	v := p.validator(t, nil)
	ctx := context.Background()

	// Revoked after the timestamp: the signature existed while the
	// certificate was good.
	cert, key := p.signer(t, nil)
	sig := p.sign(t, doc, cert, key, true, false)
	p.revoke(cert, time.Now().Add(time.Second))
	rep := v.Signature(ctx, sig, doc, nil)
	want(t, rep.Status, verify.Passed, "")
	if rep.Signatures[0].Timestamp == nil || !rep.Signatures[0].Certificate.POE {
		t.Fatal("the timestamp was not used as the validation time")
	}

	// Revoked before the timestamp: TOTAL-FAILED/REVOKED.
	cert2, key2 := p.signer(t, nil)
	p.revoke(cert2, time.Now().Add(-time.Hour))
	rep = v.Signature(ctx, p.sign(t, doc, cert2, key2, true, false), doc, nil)
	want(t, rep.Status, verify.Failed, verify.Revoked)

	// Revoked and no timestamp: no proof the signature came first.
	cert3, key3 := p.signer(t, nil)
	sig3 := p.sign(t, doc, cert3, key3, false, false)
	p.revoke(cert3, time.Now().Add(-time.Second))
	want(t, v.Signature(ctx, sig3, doc, nil).Status, verify.Indeterminate, verify.RevokedNoPOE)
}

func TestExpiredSignerBeforeAndAfterTimestamp(t *testing.T) {
	p := newSoftPKI(t)
	ctx := context.Background()
	// A certificate that expired yesterday; the signature and its token
	// were made (TSA clock) while it was valid.
	cert, key := p.signer(t, func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = time.Now().Add(-72*time.Hour), time.Now().Add(-24*time.Hour)
	})
	made := time.Now().Add(-48 * time.Hour)
	p.tsaTime.Store(&made)
	sig := p.sign(t, doc, cert, key, true, false)
	p.tsaTime.Store(nil)
	v := p.validator(t, nil)
	want(t, v.Signature(ctx, sig, doc, nil).Status, verify.Passed, "")
	// Timestamped after the expiry: no proof it was made in time.
	late := time.Now().Add(-time.Hour)
	p.tsaTime.Store(&late)
	sig2 := p.sign(t, doc, cert, key, true, false)
	p.tsaTime.Store(nil)
	want(t, v.Signature(ctx, sig2, doc, nil).Status, verify.Indeterminate, verify.OutOfBoundsNoPOE)
	// No timestamp at all, validated now.
	want(t, v.Signature(ctx, p.sign(t, doc, cert, key, false, false), doc, nil).Status, verify.Indeterminate, verify.OutOfBoundsNoPOE)
}

func TestTimestampImprintMismatch(t *testing.T) {
	p := newSoftPKI(t)
	cert, key := p.signer(t, nil)
	a := p.sign(t, doc, cert, key, true, false)
	b := p.sign(t, []byte("other"), cert, key, true, false)
	// Put b's unsigned attributes (its token) into a: a's signature value
	// is not what the token stamps.
	bad := swapUnsigned(t, a, b)
	rep := p.validator(t, nil).Signature(context.Background(), bad, doc, nil)
	want(t, rep.Status, verify.Failed, verify.HashFailure)
	if !strings.Contains(rep.Reason, "timestamp") {
		t.Fatalf("reason %q does not name the timestamp", rep.Reason)
	}
}

// swapUnsigned is a with the unsigned attributes of b's signer.
func swapUnsigned(t testing.TB, a, b []byte) []byte {
	t.Helper()
	fa, fb := sdFields(t, a), sdFields(t, b)
	si := func(f []asn1.RawValue) []asn1.RawValue {
		var set, one asn1.RawValue
		asn1.Unmarshal(f[len(f)-1].FullBytes, &set)
		asn1.Unmarshal(set.Bytes, &one)
		return children(one.Bytes)
	}
	sa, sb := si(fa), si(fb)
	var body []byte
	for _, f := range sa[:len(sa)-1] {
		body = append(body, f.FullBytes...)
	}
	body = append(body, sb[len(sb)-1].FullBytes...)
	var sdBody []byte
	for _, f := range fa[:len(fa)-1] {
		sdBody = append(sdBody, f.FullBytes...)
	}
	sdBody = append(sdBody, cms.TLV(0x31, cms.Seq(body))...)
	return cms.Seq(cms.MustMarshal(cms.OIDSignedData), cms.TLV(0xa0, cms.Seq(sdBody)))
}

func children(b []byte) []asn1.RawValue {
	var out []asn1.RawValue
	for len(b) > 0 {
		var f asn1.RawValue
		b, _ = asn1.Unmarshal(b, &f)
		out = append(out, f)
	}
	return out
}

// sdFields are the fields of the SignedData in a ContentInfo.
func sdFields(t testing.TB, sig []byte) []asn1.RawValue {
	t.Helper()
	var ci struct {
		OID     asn1.ObjectIdentifier
		Content asn1.RawValue `asn1:"explicit,tag:0"`
	}
	if _, err := asn1.Unmarshal(sig, &ci); err != nil {
		t.Fatal(err)
	}
	var sd asn1.RawValue
	asn1.Unmarshal(ci.Content.Bytes, &sd)
	return children(sd.Bytes)
}

func hdr(b []byte) (n, h int) {
	if b[1] < 0x80 {
		return int(b[1]), 2
	}
	k := int(b[1] & 0x7f)
	for _, c := range b[2 : 2+k] {
		n = n<<8 | int(c)
	}
	return n, 2 + k
}

func TestSeveralSignersEachGetAVerdict(t *testing.T) {
	p := newSoftPKI(t)
	good, gk := p.signer(t, nil)
	bad, bk := p.signer(t, nil)
	p.revoke(bad, time.Now().Add(-time.Hour))
	s1 := p.sign(t, doc, good, gk, false, false)
	s2 := p.sign(t, doc, bad, bk, false, false)
	both := mergeSigners(t, s1, s2)
	rep := p.validator(t, nil).Signature(context.Background(), both, doc, nil)
	if len(rep.Signatures) != 2 {
		t.Fatalf("%d signers", len(rep.Signatures))
	}
	want(t, rep.Signatures[0].Status, verify.Passed, "")
	want(t, rep.Signatures[1].Status, verify.Indeterminate, verify.RevokedNoPOE)
	want(t, rep.Status, verify.Indeterminate, verify.RevokedNoPOE)
}

// mergeSigners puts the signer and certificates of b into a (both made by
// cades.Sign over the same content).
func mergeSigners(t testing.TB, a, b []byte) []byte {
	t.Helper()
	fields := func(sig []byte) []asn1.RawValue { return sdFields(t, sig) }
	fa, fb := fields(a), fields(b)
	// version, digestAlgorithms, encapContentInfo, [0] certificates, signerInfos
	certs := cms.TLV(0xa0, append(bytes.Clone(fa[3].Bytes), fb[3].Bytes...))
	sis := cms.TLV(0x31, append(bytes.Clone(fa[4].Bytes), fb[4].Bytes...))
	sd := cms.Seq(fa[0].FullBytes, fa[1].FullBytes, fa[2].FullBytes, certs, sis)
	return cms.Seq(cms.MustMarshal(cms.OIDSignedData), cms.TLV(0xa0, sd))
}
