package tsa

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
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
	attrFixed  [][]byte
	certsField []byte // [0] IMPLICIT SET OF Certificate: unit, then chain

	// DER that every token repeats, encoded once.
	accuracy   []byte            // the Accuracy; nil when zero
	policies   map[string][]byte // dotted OID → its DER, for the accepted policies
	oidTSTInfo []byte
	oidDigest  []byte
	oidSD      []byte
}

// Small fixed encodings: INTEGER 1, INTEGER 3 and PKIStatusInfo{granted}.
var (
	derV1      = []byte{0x02, 0x01, 0x01}
	derV3      = []byte{0x02, 0x01, 0x03}
	derGranted = []byte{0x30, 0x03, 0x02, 0x01, statusGranted}
)

func newSignerTemplate(u *Unit, acc time.Duration, policies []asn1.ObjectIdentifier) (*signerTemplate, error) {
	t := &signerTemplate{signer: u.Signer, digest: u.Digest, policies: map[string][]byte{},
		oidTSTInfo: mustMarshal(oidTSTInfo), oidDigest: mustMarshal(oidAttrDigest), oidSD: mustMarshal(oidSignedData)}
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

	// SigningCertificateV2 { certs SEQUENCE OF ESSCertIDv2 } with one
	// ESSCertIDv2 { certHash (SHA-256, the default algorithm, so omitted),
	// issuerSerial { issuer GeneralNames { directoryName }, serialNumber } }.
	h := sha256.Sum256(u.Cert.Raw)
	dirName := der(tlv(0xa4, u.Cert.RawIssuer))
	issuerSerial := der(seq(der(seq(dirName)), serial))
	essCertID := der(seq(mustMarshal(h[:]), issuerSerial))
	signingCert := der(seq(der(seq(essCertID))))
	t.attrFixed = [][]byte{
		attribute(oidAttrContentType, mustMarshal(oidTSTInfo)),
		attribute(oidAttrSigningCert, signingCert),
	}
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
	d := t.digest.New()
	d.Write(info)
	digestAttr := der(seq(t.oidDigest, der(tlv(0x31, der(tlv(0x04, d.Sum(nil)))))))
	attrs := append(slices.Clone(t.attrFixed), digestAttr)
	// DER orders a SET OF by the encodings.
	slices.SortFunc(attrs, bytes.Compare)
	signedAttrs := der(tlv(0x31, slices.Concat(attrs...)))
	d = t.digest.New()
	d.Write(signedAttrs)
	sig, err := t.signer.Sign(rand.Reader, d.Sum(nil), t.digest)
	if err != nil {
		return nil, fmt.Errorf("tsa: sign token: %w", err)
	}
	signedAttrs[0] = 0xa0 // [0] IMPLICIT in the SignerInfo
	signerInfo := der(seq(derV1, t.sid, t.digestAlg, signedAttrs, t.sigAlg, der(tlv(0x04, sig))))
	head := slices.Concat(derV3, der(tlv(0x31, t.digestAlg)),
		der(seq(t.oidTSTInfo, der(tlv(0xa0, der(tlv(0x04, info)))))))
	signerInfos := der(tlv(0x31, signerInfo))
	bare := contentInfoDER(t.oidSD, slices.Concat(head, signerInfos))
	released := bare
	if req.CertReq {
		released = contentInfoDER(t.oidSD, slices.Concat(head, t.certsField, signerInfos))
	}
	return &token{response: der(seq(derGranted, released)), ledger: bare, serial: serial}, nil
}

func contentInfoDER(oidSD, signedData []byte) []byte {
	return der(seq(oidSD, der(tlv(0xa0, der(seq(signedData))))))
}

// tstInfoDER is the TSTInfo of RFC 3161 §2.4.2: the request's
// messageImprint as it came, and no TSA name or extensions.
func (t *signerTemplate) tstInfoDER(req *Request, policy []byte, serial *big.Int, genTime time.Time) []byte {
	b := slices.Concat(derV1, policy, req.ImprintDER, derInteger(serial), der(tlv(0x18, []byte(generalizedTime(genTime)))),
		t.accuracy)
	if req.Nonce != nil {
		b = append(b, derInteger(req.Nonce)...)
	}
	return der(seq(b))
}

// derInteger encodes an INTEGER; the hand-written path covers the
// non-negative values serials and nearly all nonces are.
func derInteger(n *big.Int) []byte {
	if n.Sign() < 0 {
		return mustMarshal(n)
	}
	b := n.Bytes()
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	return der(tlv(0x02, b))
}

// generalizedTime formats UTC time as RFC 3161 wants it: YYYYMMDDhhmmss,
// then a fraction without trailing zeros (none when zero), then Z.
func generalizedTime(t time.Time) string {
	t = t.UTC()
	s := t.Format("20060102150405")
	if ns := t.Nanosecond(); ns != 0 {
		f := strconv.Itoa(1e9 + ns)[1:] // nine digits with leading zeros
		for f[len(f)-1] == '0' {
			f = f[:len(f)-1]
		}
		s += "." + f
	}
	return s + "Z"
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

// DER helpers. Lengths here are far below what asn1 refuses, and the
// values marshalled are of types encoding/asn1 always encodes.

type raw []byte

func tlv(tag byte, content []byte) raw {
	n := len(content)
	var l []byte
	switch {
	case n < 0x80:
		l = []byte{byte(n)}
	case n < 0x100:
		l = []byte{0x81, byte(n)}
	case n < 0x10000:
		l = []byte{0x82, byte(n >> 8), byte(n)}
	default:
		l = []byte{0x83, byte(n >> 16), byte(n >> 8), byte(n)}
	}
	out := make([]byte, 0, 1+len(l)+n)
	return append(append(append(out, tag), l...), content...)
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
