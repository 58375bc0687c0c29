package verify_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/verify"
)

func TestHostileCMSClearVerdict(t *testing.T) {
	p := newSoftPKI(t)
	cert, key := p.signer(t, nil)
	good := p.sign(t, doc, cert, key, false, true)
	v := p.validator(t, nil)
	deep := bytes.Repeat([]byte{0x30, 0x80}, 10000)
	deep = append(deep, bytes.Repeat([]byte{0, 0}, 10000)...)
	deepDefinite := []byte{0x04, 0x00}
	for range 10000 {
		deepDefinite = append(append([]byte{0x30, 0x84}, be32(len(deepDefinite))...), deepDefinite...)
	}
	cases := map[string][]byte{
		"empty":               nil,
		"truncated":           good[:len(good)/2],
		"one octet":           good[:1],
		"garbage":             []byte("not a signature at all"),
		"trailing":            append(bytes.Clone(good), 0),
		"BER-indefinite deep": deep,
		"nested 10000 DER":    deepDefinite,
		"huge length":         {0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x00},
		"indefinite open":     {0x30, 0x80, 0x30, 0x80},
		"primitive indef":     {0x04, 0x80, 0x00, 0x00},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			rep := v.Signature(context.Background(), b, doc, nil)
			want(t, rep.Status, verify.Failed, verify.FormatFailure)
			if rep.Reason == "" {
				t.Fatal("no reason")
			}
		})
	}
}

func be32(n int) []byte { return []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)} }

// A BER encoding (indefinite lengths, the content in OCTET STRING
// segments) of a valid signature is still the valid signature.
func TestBERIndefiniteOfValidSignaturePasses(t *testing.T) {
	p := newSoftPKI(t)
	cert, key := p.signer(t, nil)
	der := p.sign(t, doc, cert, key, false, true)
	ber := toBER(t, der)
	if bytes.Equal(ber, der) {
		t.Fatal("no BER made")
	}
	want(t, p.validator(t, nil).Signature(context.Background(), ber, nil, nil).Status, verify.Passed, "")
}

// toBER rewrites the outer ContentInfo, SignedData and eContent with
// indefinite lengths and splits the content into two OCTET STRING segments.
func toBER(t testing.TB, der []byte) []byte {
	t.Helper()
	// ContentInfo { oid, [0] { SignedData { version, digestAlgs, encap { oid, [0] { OCTET STRING } }, rest } } }
	var out []byte
	n, h := hdr(der)
	ci := der[h : h+n]
	_, oh := hdr(ci)
	oidLen := oh + int(ci[1])
	out = append(out, 0x30, 0x80)
	out = append(out, ci[:oidLen]...)
	x := ci[oidLen:] // [0]
	n, h = hdr(x)
	sd := x[h : h+n]
	n, h = hdr(sd)
	sdBody := sd[h : h+n]
	out = append(out, 0xa0, 0x80, 0x30, 0x80)
	// version and digestAlgorithms as they are
	vlen := 2 + int(sdBody[1])
	dn, dh := hdr(sdBody[vlen:])
	head := sdBody[:vlen+dh+dn]
	out = append(out, head...)
	encap := sdBody[len(head):]
	en, eh := hdr(encap)
	encBody := encap[eh : eh+en]
	after := encap[eh+en:]
	eoid := encBody[:2+int(encBody[1])]
	ec := encBody[len(eoid):] // [0] { OCTET STRING }
	cn, ch := hdr(ec)
	octet := ec[ch : ch+cn]
	on, oh2 := hdr(octet)
	content := octet[oh2 : oh2+on]
	half := len(content) / 2
	out = append(out, 0x30, 0x80)
	out = append(out, eoid...)
	out = append(out, 0xa0, 0x80, 0x24, 0x80)
	for _, seg := range [][]byte{content[:half], content[half:]} {
		out = append(out, 0x04, byte(len(seg)))
		out = append(out, seg...)
	}
	out = append(out, 0, 0, 0, 0, 0, 0) // octets, [0], encap
	out = append(out, after...)
	return append(out, 0, 0, 0, 0, 0, 0) // SignedData, [0], ContentInfo
}

func TestHangingOCSPResponderTryLaterWithinTimeout(t *testing.T) {
	p := newSoftPKI(t)
	cert, key := p.signer(t, func(c *x509.Certificate) {
		c.OCSPServer = []string{p.url + "/hang"}
		c.CRLDistributionPoints = []string{p.url + "/down"}
	})
	sig := p.sign(t, doc, cert, key, false, false)
	v := p.validator(t, func(o *verify.Options) { o.Timeout = 300 * time.Millisecond })
	start := time.Now()
	rep := v.Signature(context.Background(), sig, doc, nil)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %s", d)
	}
	want(t, rep.Status, verify.Indeterminate, verify.TryLater)
	if !strings.Contains(rep.Reason, "no answer within") {
		t.Fatalf("reason %q", rep.Reason)
	}
}

func TestOCSPDownFallsBackToCRL(t *testing.T) {
	p := newSoftPKI(t)
	cert, key := p.signer(t, func(c *x509.Certificate) { c.OCSPServer = []string{p.url + "/down"} })
	sig := p.sign(t, doc, cert, key, false, false)
	v := p.validator(t, nil)
	rep := v.Signature(context.Background(), sig, doc, nil)
	want(t, rep.Status, verify.Passed, "")
	rev := rep.Signatures[0].Certificate.Revocation
	if len(rev) < 2 || rev[0].Source != "OCSP" || rev[0].Error == "" || rev[1].Source != "CRL" || rev[1].Status != "good" {
		t.Fatalf("revocation %+v", rev)
	}
	p.revoke(cert, time.Now().Add(-time.Minute))
	// The CRL was cached until its nextUpdate: a fresh validator sees it.
	want(t, p.validator(t, nil).Signature(context.Background(), sig, doc, nil).Status, verify.Indeterminate, verify.RevokedNoPOE)
}

func TestOCSPAnswersCachedUntilNextUpdate(t *testing.T) {
	p := newSoftPKI(t)
	cert, key := p.signer(t, nil)
	sig := p.sign(t, doc, cert, key, false, false)
	now := time.Now()
	clock := now
	v := p.validator(t, func(o *verify.Options) { o.Clock = func() time.Time { return clock } })
	for range 3 {
		want(t, v.Signature(context.Background(), sig, doc, nil).Status, verify.Passed, "")
	}
	// One for the signer (the issuing CA is checked on its CRL).
	if n := p.ocspHits.Load(); n != 1 {
		t.Fatalf("%d OCSP requests for 3 validations", n)
	}
	clock = now.Add(2 * time.Hour) // past nextUpdate (1 h)
	p.skew.Store(int64(2 * time.Hour))
	want(t, v.Signature(context.Background(), sig, doc, nil).Status, verify.Passed, "")
	if n := p.ocspHits.Load(); n != 2 {
		t.Fatalf("%d OCSP requests after nextUpdate", n)
	}
}

func TestAIAHugeAndRedirectLoopRefused(t *testing.T) {
	p := newSoftPKI(t)
	for _, path := range []string{"/huge", "/loop", "/hang"} {
		t.Run(path, func(t *testing.T) {
			cert, _ := p.signer(t, func(c *x509.Certificate) {
				c.IssuingCertificateURL = []string{p.url + path}
				c.OCSPServer = []string{p.url + path}
			})
			start := time.Now()
			v := p.validator(t, func(o *verify.Options) { o.Timeout = 500 * time.Millisecond })
			r := v.Certificate(context.Background(), cert, nil, time.Now(), false, verify.UsageSigning)
			want(t, r.Status, verify.Indeterminate, verify.NoCertificateChainFound)
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("took %s", d)
			}
			var aia string
			for _, c := range r.Checks {
				if c.Name == "aia" {
					aia = c.Detail
				}
			}
			wantWord := map[string]string{"/huge": "size limit", "/loop": "redirects", "/hang": "no answer"}[path]
			if !strings.Contains(aia, wantWord) {
				t.Fatalf("aia check %q, want %q", aia, wantWord)
			}
			// With the intermediate given, the revocation URLs misbehaving
			// the same way end INDETERMINATE/TRY_LATER within the timeout,
			// each answer saying why.
			cert, _ = p.signer(t, func(c *x509.Certificate) {
				c.OCSPServer = []string{p.url + path}
				c.CRLDistributionPoints = []string{p.url + path}
			})
			start = time.Now()
			r = v.Certificate(context.Background(), cert, []*x509.Certificate{p.inter}, time.Now(), false, verify.UsageSigning)
			want(t, r.Status, verify.Indeterminate, verify.TryLater)
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("revocation took %s", d)
			}
			// (A CRL may be larger than an OCSP answer: a 1 GB one ends at
			// the timeout rather than at the OCSP size limit.)
			seen := 0
			for _, a := range r.Revocation {
				if a.Certificate != cert.SerialNumber.Text(16) {
					continue // the intermediate's, from the root's CRL
				}
				seen++
				if a.Error == "" || a.Source == "OCSP" && !strings.Contains(a.Error, wantWord) {
					t.Errorf("%s %s: %q, want %q", a.Source, a.URL, a.Error, wantWord)
				}
			}
			if seen != 2 {
				t.Fatalf("revocation answers %+v", r.Revocation)
			}
		})
	}
}

func TestQualifiedStatus(t *testing.T) {
	p := newSoftPKI(t)
	cert, _ := p.signer(t, nil)
	r := p.validator(t, nil).Certificate(context.Background(), cert, []*x509.Certificate{p.inter}, time.Now(), false, verify.UsageSigning)
	want(t, r.Status, verify.Passed, "")
	if r.Qualification == nil || r.Qualification.Qualified {
		t.Fatalf("a certificate without QCStatements is not qualified: %+v", r.Qualification)
	}
}

func TestNotYetValidFails(t *testing.T) {
	p := newSoftPKI(t)
	cert, _ := p.signer(t, nil)
	r := p.validator(t, nil).Certificate(context.Background(), cert, []*x509.Certificate{p.inter}, cert.NotBefore.Add(-time.Hour), false, verify.UsageSigning)
	want(t, r.Status, verify.Failed, verify.NotYetValid)
}

func TestQualifiedFromQCStatementsAndPolicy(t *testing.T) {
	p := newSoftPKI(t)
	qcs, err := policy.MarshalQCStatements(policy.QCStatements{Compliance: true, SSCD: true, Type: policy.QCTypeESign,
		Legislation: []string{"TJ"}, PDS: []policy.PDS{{URL: "https://muhr.example.tj/pds/en.pdf", Language: "en"}}})
	if err != nil {
		t.Fatal(err)
	}
	qscd, _ := x509.ParseOID("0.4.0.194112.1.2")
	ext := pkix.Extension{Id: []int{1, 3, 6, 1, 5, 5, 7, 1, 3}, Value: qcs}
	cert, _ := p.signer(t, func(c *x509.Certificate) { c.ExtraExtensions = []pkix.Extension{ext}; c.Policies = []x509.OID{qscd} })
	r := p.validator(t, nil).Certificate(context.Background(), cert, nil, time.Now(), false, verify.UsageSigning)
	want(t, r.Status, verify.Passed, "")
	if q := r.Qualification; !q.Qualified || !q.QSCD || q.Type != "esign" || q.Legislation[0] != "TJ" {
		t.Fatalf("%+v", q)
	}
	// QcCompliance without a QCP policy is not qualified.
	cert2, _ := p.signer(t, func(c *x509.Certificate) { c.ExtraExtensions = []pkix.Extension{ext} })
	r = p.validator(t, nil).Certificate(context.Background(), cert2, nil, time.Now(), false, verify.UsageSigning)
	if q := r.Qualification; q.Qualified || q.Note == "" {
		t.Fatalf("%+v", q)
	}
}

func TestManyLocationsBounded(t *testing.T) {
	p := newSoftPKI(t)
	var urls []string
	for range 1000 {
		urls = append(urls, p.url+"/hang")
	}
	cert, _ := p.signer(t, func(c *x509.Certificate) { c.OCSPServer = urls; c.CRLDistributionPoints = urls })
	v := p.validator(t, func(o *verify.Options) { o.Timeout = 100 * time.Millisecond })
	start := time.Now()
	r := v.Certificate(context.Background(), cert, []*x509.Certificate{p.inter}, time.Now(), false, verify.UsageSigning)
	want(t, r.Status, verify.Indeterminate, verify.TryLater)
	if d := time.Since(start); d > 2*time.Second || len(r.Revocation) != 7 { // 3 OCSP + 3 CRL for the leaf, the issuing CA's CRL
		t.Fatalf("%s, %d answers", d, len(r.Revocation))
	}
}

func TestHugeSignatureRefused(t *testing.T) {
	p := newSoftPKI(t)
	huge := make([]byte, verify.MaxSignatureBytes+1)
	huge[0], huge[1] = 0x30, 0x84
	rep := p.validator(t, nil).Signature(context.Background(), huge, doc, nil)
	want(t, rep.Status, verify.Failed, verify.FormatFailure)
	if !strings.Contains(rep.Reason, "limit") {
		t.Fatal(rep.Reason)
	}
}
