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
)

// The token is built here with encoding/asn1 rather than by a CMS library:
// RFC 3161 §2.4.2 wants the request's messageImprint copied byte for byte
// and genTime with sub-second fractions, which github.com/digitorus/timestamp
// cannot do (it re-encodes the imprint with NULL parameters and rounds
// genTime to the second), and everything a token has that does not change
// per request (signer identifier, ESSCertIDv2, algorithm identifiers,
// certificates) is encoded once per unit instead of once per token.

var (
	oidSignedData      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidAttrContentType = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrDigest      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningCert = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidRSAEncryption   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
)

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
		oidTSTInfo: mustMarshal(oidTSTInfo), oidSD: mustMarshal(oidSignedData)}
	if acc > 0 {
		t.accuracy = mustMarshal(accuracy{Seconds: int64(acc / time.Second), Milliseconds: int64(acc%time.Second) / 1e6,
			Microseconds: int64(acc%time.Millisecond) / 1e3})
	}
	for _, p := range policies {
		t.policies[p.String()] = mustMarshal(p)
	}
	hashOID := map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: oidSHA256, crypto.SHA384: oidSHA384, crypto.SHA512: oidSHA512}[u.Digest]
	if hashOID == nil {
		return nil, fmt.Errorf("%w: unsupported digest %s", ErrUnit, u.Digest)
	}
	t.digestAlg = der(seq(mustMarshal(hashOID)))
	var sigOID asn1.ObjectIdentifier
	params := []byte(nil)
	switch u.Signer.Public().(type) {
	case *ecdsa.PublicKey:
		sigOID = map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: oidECDSAWithSHA256, crypto.SHA384: oidECDSAWithSHA384, crypto.SHA512: oidECDSAWithSHA512}[u.Digest]
	default:
		sigOID = map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: oidSHA256WithRSA, crypto.SHA384: oidSHA384WithRSA, crypto.SHA512: oidSHA512WithRSA}[u.Digest]
		params = asn1.NullBytes
	}
	t.sigAlg = der(seq(append(mustMarshal(sigOID), params...)))
	serial := mustMarshal(u.Cert.SerialNumber)
	t.sid = der(seq(append(slices.Clone(u.Cert.RawIssuer), serial...)))
	t.siHead = slices.Concat(derV1, t.sid, t.digestAlg)
	t.digestAlgs = der(tlv(0x31, t.digestAlg))

	// SigningCertificateV2 { certs SEQUENCE OF ESSCertIDv2 } with one
	// ESSCertIDv2 { certHash (SHA-256, the default algorithm, so omitted),
	// issuerSerial { issuer GeneralNames { directoryName }, serialNumber } }.
	h := sha256.Sum256(u.Cert.Raw)
	dirName := der(tlv(0xa4, u.Cert.RawIssuer))
	issuerSerial := der(seq(der(seq(dirName)), serial))
	essCertID := der(seq(mustMarshal(h[:]), issuerSerial))
	signingCert := der(seq(der(seq(essCertID))))
	// The messageDigest attribute with a zero digest, marked to be found
	// once the attributes are sorted.
	zero := make([]byte, u.Digest.Size())
	digestAttr := attribute(oidAttrDigest, der(tlv(0x04, zero)))
	attrs := [][]byte{attribute(oidAttrContentType, mustMarshal(oidTSTInfo)), attribute(oidAttrSigningCert, signingCert), digestAttr}
	// DER orders a SET OF by the encodings.
	slices.SortFunc(attrs, bytes.Compare)
	off := 0
	for _, a := range attrs {
		if &a[0] == &digestAttr[0] {
			t.digestAt = off + len(a) - len(zero)
		}
		off += len(a)
	}
	t.signedAttrs = der(tlv(0x31, slices.Concat(attrs...)))
	t.digestAt += len(t.signedAttrs) - off
	certs := slices.Clone(u.Cert.Raw)
	for _, c := range u.Chain {
		certs = append(certs, c.Raw...)
	}
	t.certsField = der(tlv(0xa0, certs))
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
	octet := hdrLen(len(info)) + len(info)
	econtent := hdrLen(octet) + octet
	encapBody := len(t.oidTSTInfo) + econtent
	encap := hdrLen(encapBody) + encapBody
	siBody := len(t.siHead) + len(signedAttrs) + len(t.sigAlg) + hdrLen(len(sig)) + len(sig)
	si := hdrLen(siBody) + siBody
	sis := hdrLen(si) + si
	sdBody := len(derV3) + len(t.digestAlgs) + encap + sis
	contentInfo := func(b []byte, sdBody int, certs []byte) []byte {
		sdBody += len(certs)
		sd := hdrLen(sdBody) + sdBody
		b = appendHdr(b, 0x30, len(t.oidSD)+hdrLen(sd)+sd)
		b = append(b, t.oidSD...)
		b = appendHdr(b, 0xa0, sd)
		b = appendHdr(b, 0x30, sdBody)
		b = append(append(b, derV3...), t.digestAlgs...)
		b = appendHdr(b, 0x30, encapBody)
		b = append(b, t.oidTSTInfo...)
		b = appendHdr(b, 0xa0, octet)
		b = appendHdr(b, 0x04, len(info))
		b = append(b, info...)
		b = append(b, certs...)
		b = appendHdr(b, 0x31, si)
		b = appendHdr(b, 0x30, siBody)
		b = append(append(append(b, t.siHead...), signedAttrs...), t.sigAlg...)
		b = appendHdr(b, 0x04, len(sig))
		return append(b, sig...)
	}
	ciLen := func(certs int) int {
		sd := hdrLen(sdBody+certs) + sdBody + certs
		body := len(t.oidSD) + hdrLen(sd) + sd
		return hdrLen(body) + body
	}
	var certs []byte
	if certReq {
		certs = t.certsField
	}
	ci := ciLen(len(certs))
	respBody := len(derGranted) + ci
	response = make([]byte, 0, hdrLen(respBody)+respBody)
	response = appendHdr(response, 0x30, respBody)
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
	body := len(derV1) + len(policy) + len(req.ImprintDER) + integerLen(serial) + hdrLen(len(gen)) + len(gen) +
		len(t.accuracy)
	if req.Nonce != nil {
		body += integerLen(req.Nonce)
	}
	b := make([]byte, 0, hdrLen(body)+body)
	b = appendHdr(b, 0x30, body)
	b = append(append(append(b, derV1...), policy...), req.ImprintDER...)
	b = appendInteger(b, serial)
	b = appendHdr(b, 0x18, len(gen))
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
		return len(mustMarshal(n))
	}
	c := (n.BitLen() + 7) / 8
	if c == 0 || n.BitLen()%8 == 0 {
		c++ // zero, or a leading 0x00 so the value stays positive
	}
	return hdrLen(c) + c
}

// appendInteger appends n's DER INTEGER; the hand-written path covers the
// non-negative values serials and nearly all nonces are.
func appendInteger(b []byte, n *big.Int) []byte {
	if n.Sign() < 0 {
		return append(b, mustMarshal(n)...)
	}
	c := (n.BitLen() + 7) / 8
	pad := c == 0 || n.BitLen()%8 == 0
	l := c
	if pad {
		l++
	}
	b = appendHdr(b, 0x02, l)
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
	return rewriteCertificates(token, der(tlv(0xa0, b)))
}

var errNotToken = errors.New("tsa: not a DER TimeStampToken")

func rewriteCertificates(token, certsField []byte) ([]byte, error) {
	var ci contentInfo
	if rest, err := asn1.Unmarshal(token, &ci); err != nil || len(rest) > 0 || !ci.ContentType.Equal(oidSignedData) {
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
	return contentInfoDER(mustMarshal(oidSignedData), out), nil
}

func contentInfoDER(oidSD, signedData []byte) []byte {
	return der(seq(oidSD, der(tlv(0xa0, der(seq(signedData))))))
}

// DER helpers. Lengths here are far below what asn1 refuses, and the
// values marshalled are of types encoding/asn1 always encodes.

type raw []byte

func tlv(tag byte, content []byte) raw {
	out := make([]byte, 0, hdrLen(len(content))+len(content))
	return append(appendHdr(out, tag, len(content)), content...)
}

// hdrLen is the length of the tag and length octets before n content
// octets.
func hdrLen(n int) int {
	switch {
	case n < 0x80:
		return 2
	case n < 0x100:
		return 3
	case n < 0x10000:
		return 4
	}
	return 5
}

// appendHdr appends a tag and the DER length n.
func appendHdr(b []byte, tag byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, tag, byte(n))
	case n < 0x100:
		return append(b, tag, 0x81, byte(n))
	case n < 0x10000:
		return append(b, tag, 0x82, byte(n>>8), byte(n))
	}
	return append(b, tag, 0x83, byte(n>>16), byte(n>>8), byte(n))
}

func seq(parts ...[]byte) raw { return tlv(0x30, slices.Concat(parts...)) }

func der(r raw) []byte { return r }

func attribute(oid asn1.ObjectIdentifier, value []byte) []byte {
	return der(seq(mustMarshal(oid), der(tlv(0x31, value))))
}

func mustMarshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("tsa: marshal %T: %v", v, err))
	}
	return b
}
