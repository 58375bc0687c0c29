// Package cms holds the CMS (RFC 5652) pieces the time-stamping authority,
// the signature validator and the document signer share: object
// identifiers, small DER builders, the ESS signingCertificateV2 attribute
// (RFC 5035) and a guarded parser of SignedData that refuses hostile
// encodings before anything recursive sees them.
package cms

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"slices"
)

// Object identifiers of RFC 5652, RFC 5035, RFC 3161 and the algorithms
// the center uses.
var (
	OIDData                 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	OIDSignedData           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	OIDTSTInfo              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	OIDAttrContentType      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	OIDAttrMessageDigest    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	OIDAttrSigningTime      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	OIDAttrSigningCert      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	OIDAttrSigningCertV2    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	OIDAttrSignatureTSToken = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}

	OIDSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	OIDSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	OIDSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	OIDSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	OIDRSAEncryption   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	OIDSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	OIDSHA384WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	OIDSHA512WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	OIDECPublicKey     = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	OIDECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	OIDECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	OIDECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
)

// HashOID is the digest algorithm OID of h; nil for one we do not use.
func HashOID(h crypto.Hash) asn1.ObjectIdentifier {
	switch h {
	case crypto.SHA256:
		return OIDSHA256
	case crypto.SHA384:
		return OIDSHA384
	case crypto.SHA512:
		return OIDSHA512
	}
	return nil
}

// HashOf is the hash of a digest algorithm OID; 0 for one we refuse (SHA-1
// and MD5 included: no new trust rests on them).
func HashOf(oid asn1.ObjectIdentifier) crypto.Hash {
	switch {
	case oid.Equal(OIDSHA256):
		return crypto.SHA256
	case oid.Equal(OIDSHA384):
		return crypto.SHA384
	case oid.Equal(OIDSHA512):
		return crypto.SHA512
	}
	return 0
}

// SignatureOID is the signature algorithm OID for a key type and digest,
// and whether its AlgorithmIdentifier carries NULL parameters (RSA).
func SignatureOID(ecdsa bool, h crypto.Hash) (asn1.ObjectIdentifier, bool) {
	if ecdsa {
		return map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: OIDECDSAWithSHA256, crypto.SHA384: OIDECDSAWithSHA384,
			crypto.SHA512: OIDECDSAWithSHA512}[h], false
	}
	return map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: OIDSHA256WithRSA, crypto.SHA384: OIDSHA384WithRSA,
		crypto.SHA512: OIDSHA512WithRSA}[h], true
}

// ContentInfo is the CMS ContentInfo.
type ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

// SigningCertificateV2 is the DER of the ESS SigningCertificateV2 value
// (RFC 5035) naming cert: certs SEQUENCE OF one ESSCertIDv2 { certHash
// (SHA-256, the default algorithm, so omitted), issuerSerial { issuer
// GeneralNames { directoryName }, serialNumber } }.
func SigningCertificateV2(cert *x509.Certificate) []byte {
	h := sha256.Sum256(cert.Raw)
	dirName := TLV(0xa4, cert.RawIssuer)
	issuerSerial := Seq(Seq(dirName), MustMarshal(cert.SerialNumber))
	essCertID := Seq(MustMarshal(h[:]), issuerSerial)
	return Seq(Seq(essCertID))
}

// Attribute is the DER of an Attribute { type, SET { value } }.
func Attribute(oid asn1.ObjectIdentifier, value []byte) []byte {
	return Seq(MustMarshal(oid), TLV(0x31, value))
}

// TLV encodes one DER value of a one-byte tag.
func TLV(tag byte, content []byte) []byte {
	out := make([]byte, 0, HdrLen(len(content))+len(content))
	return append(AppendHdr(out, tag, len(content)), content...)
}

// Seq is a SEQUENCE of the concatenated parts.
func Seq(parts ...[]byte) []byte { return TLV(0x30, slices.Concat(parts...)) }

// HdrLen is the length of the tag and length octets before n content
// octets (n < 2^24: every value the center builds).
func HdrLen(n int) int {
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

// AppendHdr appends a tag and the DER length n.
func AppendHdr(b []byte, tag byte, n int) []byte {
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

// MustMarshal is asn1.Marshal for values of types encoding/asn1 always
// encodes (OIDs, integers, byte strings); a failure is a programming error.
func MustMarshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("cms: marshal %T: %v", v, err))
	}
	return b
}
