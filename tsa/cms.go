package tsa

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/internal/cms"
)

// The token is built here with encoding/asn1 rather than by a CMS library:
// RFC 3161 §2.4.2 wants the request's messageImprint copied byte for byte
// and genTime with sub-second fractions, which github.com/digitorus/timestamp
// cannot do (it re-encodes the imprint with NULL parameters and rounds
// genTime to the second), and everything a token has that does not change
// per request (signer identifier, ESSCertIDv2, algorithm identifiers,
// certificates) is encoded once per unit instead of once per token.

// GenTimePrecision is the resolution of genTime: the clock is read in
// nanoseconds but the ledger keeps microseconds, so genTime is truncated
// (never rounded up) to the microsecond and the token and its ledger row
// agree exactly.
const GenTimePrecision = config.TSAGenTimePrecision

// signerTemplate holds the DER a unit's tokens share.
type signerTemplate struct {
	signer     crypto.Signer
	digest     crypto.Hash
	digestAlg  []byte // AlgorithmIdentifier of digest, parameters absent
	sigAlg     []byte // AlgorithmIdentifier of the signature
	sid        []byte // IssuerAndSerialNumber of the unit certificate
	certsField []byte // [0] IMPLICIT SET OF Certificate: unit, then chain

	// DER that every token repeats, encoded once.
	accuracy   []byte            // the Accuracy; nil when zero
	policies   map[string][]byte // dotted OID → its DER, for the accepted policies
	oidTSTInfo []byte
	oidSD      []byte
	// signedAttrs is the SET OF Attribute a token signs, in DER order,
	// with the messageDigest value zero at digestAt: only that value
	// differs between tokens (every attribute has a fixed length, so the
	// order never changes).
	signedAttrs []byte
	digestAt    int
	// siHead is SignerInfo's version, sid and digestAlgorithm;
	// digestAlgs is SignedData's digestAlgorithms SET.
	siHead     []byte
	digestAlgs []byte
}

// Small fixed encodings: INTEGER 1, INTEGER 3 and PKIStatusInfo{granted}.
var (
	derV1      = []byte{0x02, 0x01, 0x01}
	derV3      = []byte{0x02, 0x01, 0x03}
	derGranted = []byte{0x30, 0x03, 0x02, 0x01, statusGranted}
)

func newSignerTemplate(u *Unit, acc time.Duration, policies []asn1.ObjectIdentifier) (*signerTemplate, error) {
	t := &signerTemplate{signer: u.Signer, digest: u.Digest, policies: map[string][]byte{},
		oidTSTInfo: cms.MustMarshal(cms.OIDTSTInfo), oidSD: cms.MustMarshal(cms.OIDSignedData)}
	if acc > 0 {
		t.accuracy = cms.MustMarshal(accuracy{Seconds: int64(acc / time.Second), Milliseconds: int64(acc%time.Second) / 1e6,
			Microseconds: int64(acc%time.Millisecond) / 1e3})
	}
	for _, p := range policies {
		t.policies[p.String()] = cms.MustMarshal(p)
	}
	hashOID := cms.HashOID(u.Digest)
	if hashOID == nil {
		return nil, fmt.Errorf("%w: unsupported digest %s", ErrUnit, u.Digest)
	}
	t.digestAlg = cms.Seq(cms.MustMarshal(hashOID))
	_, isEC := u.Signer.Public().(*ecdsa.PublicKey)
	sigOID, nullParams := cms.SignatureOID(isEC, u.Digest)
	params := []byte(nil)
	if nullParams {
		params = asn1.NullBytes
	}
	t.sigAlg = cms.Seq(append(cms.MustMarshal(sigOID), params...))
	serial := cms.MustMarshal(u.Cert.SerialNumber)
	t.sid = cms.Seq(append(slices.Clone(u.Cert.RawIssuer), serial...))
	t.siHead = slices.Concat(derV1, t.sid, t.digestAlg)
	t.digestAlgs = cms.TLV(0x31, t.digestAlg)

	signingCert := cms.SigningCertificateV2(u.Cert)
	// The messageDigest attribute with a zero digest, marked to be found
	// once the attributes are sorted.
	zero := make([]byte, u.Digest.Size())
	digestAttr := cms.Attribute(cms.OIDAttrMessageDigest, cms.TLV(0x04, zero))
	attrs := [][]byte{cms.Attribute(cms.OIDAttrContentType, cms.MustMarshal(cms.OIDTSTInfo)), cms.Attribute(cms.OIDAttrSigningCertV2, signingCert), digestAttr}
	// DER orders a SET OF by the encodings.
	slices.SortFunc(attrs, bytes.Compare)
	off := 0
	for _, a := range attrs {
		if &a[0] == &digestAttr[0] {
			t.digestAt = off + len(a) - len(zero)
		}
		off += len(a)
	}
	t.signedAttrs = cms.TLV(0x31, slices.Concat(attrs...))
	t.digestAt += len(t.signedAttrs) - off
	certs := slices.Clone(u.Cert.Raw)
	for _, c := range u.Chain {
		certs = append(certs, c.Raw...)
	}
	t.certsField = cms.TLV(0xa0, certs)
	return t, nil
}

// token is one signed token: the TimeStampResp to release, and the token
// without certificates for the ledger (the chain is fixed per signer row).
type token struct {
	response []byte
	ledger   []byte
	serial   *big.Int
}

var serialLimit = new(big.Int).Lsh(big.NewInt(1), 160)

// sign builds TSTInfo for the request and signs it. policy must be one of
// the template's policies.
func (t *signerTemplate) sign(req *Request, policy asn1.ObjectIdentifier, genTime time.Time) (*token, error) {
	serial, err := rand.Int(rand.Reader, serialLimit)
	if err != nil {
		return nil, fmt.Errorf("tsa: draw serial: %w", err)
	}
	if serial.Sign() == 0 {
		serial.SetInt64(1) // 2^-160: the ledger's key still refuses a reuse
	}
	policyDER, ok := t.policies[policy.String()]
	if !ok {
		return nil, fmt.Errorf("tsa: policy %s not configured", policy)
	}
	info := t.tstInfoDER(req, policyDER, serial, genTime)
	signedAttrs := slices.Clone(t.signedAttrs)
	var buf [sha512.Size]byte
	copy(signedAttrs[t.digestAt:t.digestAt+t.digest.Size()], t.hash(buf[:0], info))
	sig, err := t.signer.Sign(rand.Reader, t.hash(buf[:0], signedAttrs), t.digest)
	if err != nil {
		return nil, fmt.Errorf("tsa: sign token: %w", err)
	}
	signedAttrs[0] = 0xa0 // [0] IMPLICIT in the SignerInfo
	tok := &token{serial: serial}
	tok.response, tok.ledger = t.encode(info, signedAttrs, sig, req.CertReq)
	return tok, nil
}

// hash appends the digest of b to dst.
func (t *signerTemplate) hash(dst, b []byte) []byte {
	switch t.digest {
	case crypto.SHA256:
		h := sha256.Sum256(b)
		return append(dst, h[:]...)
	case crypto.SHA384:
		h := sha512.Sum384(b)
		return append(dst, h[:]...)
	case crypto.SHA512:
		h := sha512.Sum512(b)
		return append(dst, h[:]...)
	}
	d := t.digest.New()
	d.Write(b)
	return d.Sum(dst)
}

// encode writes the TimeStampResp around the signed token, each DER length
// computed before its content, into one buffer: TimeStampResp { granted,
// ContentInfo { signedData, [0] SignedData { 3, digestAlgorithms,
// EncapsulatedContentInfo { tstInfo, [0] OCTET STRING TSTInfo },
// [0] certificates when certReq, SignerInfos { SignerInfo { 1, sid,
// digestAlgorithm, [0] signedAttrs, signatureAlgorithm, OCTET STRING
// signature } } } } }. ledger is the token without certificates: a part of
// response when it has none, its own encoding otherwise.
func (t *signerTemplate) encode(info, signedAttrs, sig []byte, certReq bool) (response, ledger []byte) {
	octet := cms.HdrLen(len(info)) + len(info)
	econtent := cms.HdrLen(octet) + octet
	encapBody := len(t.oidTSTInfo) + econtent
	encap := cms.HdrLen(encapBody) + encapBody
	siBody := len(t.siHead) + len(signedAttrs) + len(t.sigAlg) + cms.HdrLen(len(sig)) + len(sig)
	si := cms.HdrLen(siBody) + siBody
	sis := cms.HdrLen(si) + si
	sdBody := len(derV3) + len(t.digestAlgs) + encap + sis
	contentInfo := func(b []byte, sdBody int, certs []byte) []byte {
		sdBody += len(certs)
		sd := cms.HdrLen(sdBody) + sdBody
		b = cms.AppendHdr(b, 0x30, len(t.oidSD)+cms.HdrLen(sd)+sd)
		b = append(b, t.oidSD...)
		b = cms.AppendHdr(b, 0xa0, sd)
		b = cms.AppendHdr(b, 0x30, sdBody)
		b = append(append(b, derV3...), t.digestAlgs...)
		b = cms.AppendHdr(b, 0x30, encapBody)
		b = append(b, t.oidTSTInfo...)
		b = cms.AppendHdr(b, 0xa0, octet)
		b = cms.AppendHdr(b, 0x04, len(info))
		b = append(b, info...)
		b = append(b, certs...)
		b = cms.AppendHdr(b, 0x31, si)
		b = cms.AppendHdr(b, 0x30, siBody)
		b = append(append(append(b, t.siHead...), signedAttrs...), t.sigAlg...)
		b = cms.AppendHdr(b, 0x04, len(sig))
		return append(b, sig...)
	}
	ciLen := func(certs int) int {
		sd := cms.HdrLen(sdBody+certs) + sdBody + certs
		body := len(t.oidSD) + cms.HdrLen(sd) + sd
		return cms.HdrLen(body) + body
	}
	var certs []byte
	if certReq {
		certs = t.certsField
	}
	ci := ciLen(len(certs))
	respBody := len(derGranted) + ci
	response = make([]byte, 0, cms.HdrLen(respBody)+respBody)
	response = cms.AppendHdr(response, 0x30, respBody)
	response = append(response, derGranted...)
	start := len(response)
	response = contentInfo(response, sdBody, certs)
	if !certReq {
		return response, response[start:len(response):len(response)]
	}
	return response, contentInfo(make([]byte, 0, ciLen(0)), sdBody, nil)
}

// tstInfoDER is the TSTInfo of RFC 3161 §2.4.2: the request's
// messageImprint as it came, and no TSA name or extensions.
func (t *signerTemplate) tstInfoDER(req *Request, policy []byte, serial *big.Int, genTime time.Time) []byte {
	var gt [32]byte
	gen := appendGeneralizedTime(gt[:0], genTime)
	body := len(derV1) + len(policy) + len(req.ImprintDER) + integerLen(serial) + cms.HdrLen(len(gen)) + len(gen) +
		len(t.accuracy)
	if req.Nonce != nil {
		body += integerLen(req.Nonce)
	}
	b := make([]byte, 0, cms.HdrLen(body)+body)
	b = cms.AppendHdr(b, 0x30, body)
	b = append(append(append(b, derV1...), policy...), req.ImprintDER...)
	b = appendInteger(b, serial)
	b = cms.AppendHdr(b, 0x18, len(gen))
	b = append(append(b, gen...), t.accuracy...)
	if req.Nonce != nil {
		b = appendInteger(b, req.Nonce)
	}
	return b
}

// derInteger encodes an INTEGER.
func derInteger(n *big.Int) []byte { return appendInteger(nil, n) }

// integerLen is the length of n's DER INTEGER.
func integerLen(n *big.Int) int {
	if n.Sign() < 0 {
		return len(cms.MustMarshal(n))
	}
	c := (n.BitLen() + 7) / 8
	if c == 0 || n.BitLen()%8 == 0 {
		c++ // zero, or a leading 0x00 so the value stays positive
	}
	return cms.HdrLen(c) + c
}

// appendInteger appends n's DER INTEGER; the hand-written path covers the
// non-negative values serials and nearly all nonces are.
func appendInteger(b []byte, n *big.Int) []byte {
	if n.Sign() < 0 {
		return append(b, cms.MustMarshal(n)...)
	}
	c := (n.BitLen() + 7) / 8
	pad := c == 0 || n.BitLen()%8 == 0
	l := c
	if pad {
		l++
	}
	b = cms.AppendHdr(b, 0x02, l)
	if pad {
		b = append(b, 0)
	}
	b = slices.Grow(b, c)
	n.FillBytes(b[len(b) : len(b)+c])
	return b[:len(b)+c]
}

// generalizedTime formats UTC time as RFC 3161 wants it: YYYYMMDDhhmmss,
// then a fraction without trailing zeros (none when zero), then Z.
func generalizedTime(t time.Time) string { return string(appendGeneralizedTime(nil, t)) }

func appendGeneralizedTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	b = t.AppendFormat(b, "20060102150405")
	if ns := t.Nanosecond(); ns != 0 {
		var f [10]byte
		frac := strconv.AppendInt(f[:0], int64(1e9+ns), 10)[1:] // nine digits with leading zeros
		for frac[len(frac)-1] == '0' {
			frac = frac[:len(frac)-1]
		}
		b = append(append(b, '.'), frac...)
	}
	return append(b, 'Z')
}

// StripCertificates returns a TimeStampToken without its certificates
// field: what the ledger keeps.
func StripCertificates(token []byte) ([]byte, error) {
	return rewriteCertificates(token, nil)
}

// WithCertificates returns a TimeStampToken whose certificates field holds
// certs (the TSA unit first), replacing any it had. The field is outside
// the signature, so the token stays valid.
func WithCertificates(token []byte, certs []*x509.Certificate) ([]byte, error) {
	if len(certs) == 0 {
		return StripCertificates(token)
	}
	var b []byte
	for _, c := range certs {
		b = append(b, c.Raw...)
	}
	return rewriteCertificates(token, cms.TLV(0xa0, b))
}

var errNotToken = errors.New("tsa: not a DER TimeStampToken")

func rewriteCertificates(token, certsField []byte) ([]byte, error) {
	var ci cms.ContentInfo
	if rest, err := asn1.Unmarshal(token, &ci); err != nil || len(rest) > 0 || !ci.ContentType.Equal(cms.OIDSignedData) {
		return nil, errNotToken
	}
	var sd asn1.RawValue
	if rest, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil || len(rest) > 0 || sd.Tag != asn1.TagSequence {
		return nil, errNotToken
	}
	var fields [][]byte
	for rest := sd.Bytes; len(rest) > 0; {
		var f asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &f); err != nil {
			return nil, fmt.Errorf("%w: %w", errNotToken, err)
		}
		fields = append(fields, f.FullBytes)
	}
	// version, digestAlgorithms, encapContentInfo, [0] certificates,
	// [1] crls, signerInfos.
	if len(fields) < 4 {
		return nil, errNotToken
	}
	out := slices.Concat(fields[:3]...)
	if certsField != nil {
		out = append(out, certsField...)
	}
	for _, f := range fields[3:] {
		if f[0] != 0xa0 {
			out = append(out, f...)
		}
	}
	return contentInfoDER(cms.MustMarshal(cms.OIDSignedData), out), nil
}

func contentInfoDER(oidSD, signedData []byte) []byte {
	return cms.Seq(oidSD, cms.TLV(0xa0, cms.Seq(signedData)))
}
