package cms

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Limits of the parser. CMS a person signs nests a dozen levels; the
// bound refuses the 10,000-level bombs before anything recursive (our
// normaliser, encoding/asn1, a CMS library) walks them.
const (
	MaxDepth = 64
	// MaxElements bounds the values one input may hold, so a small input
	// of empty values cannot make the normaliser allocate without end.
	MaxElements = 1 << 20
)

// ErrFormat marks input that is not a CMS structure we accept: the
// validator reports it as FORMAT_FAILURE.
var ErrFormat = errors.New("cms: malformed")

// SignedData is what the validator reads from a CMS SignedData.
type SignedData struct {
	EContentType asn1.ObjectIdentifier
	// EContent is the encapsulated content; nil when detached.
	EContent     []byte
	Certificates [][]byte
	Signers      []SignerInfo
}

// SignerInfo is one signer of a SignedData.
type SignerInfo struct {
	Version int
	// Issuer (raw Name) and Serial, or SubjectKeyID, identify the signer.
	Issuer       []byte
	Serial       *big.Int
	SubjectKeyID []byte
	DigestAlg    pkix.AlgorithmIdentifier
	// SignedAttrsDER is the SET OF Attribute the signature covers, with
	// its universal SET tag (RFC 5652 §5.4); nil without signed attributes.
	SignedAttrsDER []byte
	SignedAttrs    []Attr
	SigAlg         pkix.AlgorithmIdentifier
	Signature      []byte
	UnsignedAttrs  []Attr
}

// Attr is one attribute and the DER of each of its values.
type Attr struct {
	Type   asn1.ObjectIdentifier
	Values [][]byte
}

// Find returns the values of the first attribute of type oid, and how many
// attributes of that type there are.
func Find(attrs []Attr, oid asn1.ObjectIdentifier) (values [][]byte, count int) {
	for _, a := range attrs {
		if a.Type.Equal(oid) {
			if count == 0 {
				values = a.Values
			}
			count++
		}
	}
	return values, count
}

type signedDataASN struct {
	Version          int
	DigestAlgorithms asn1.RawValue
	EncapContentInfo struct {
		EContentType asn1.ObjectIdentifier
		EContent     asn1.RawValue `asn1:"optional,explicit,tag:0"`
	}
	Certificates asn1.RawValue   `asn1:"optional,tag:0"`
	CRLs         asn1.RawValue   `asn1:"optional,tag:1"`
	SignerInfos  []asn1.RawValue `asn1:"set"`
}

type signerInfoASN struct {
	Version            int
	SID                asn1.RawValue
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
	UnsignedAttrs      asn1.RawValue `asn1:"optional,tag:1"`
}

type attrASN struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

// ParseSignedData reads a ContentInfo holding a SignedData, in BER or
// DER. Every failure wraps ErrFormat and says what was wrong.
func ParseSignedData(b []byte) (*SignedData, error) { return parseSignedData(b, true) }

// ParseCertsOnly reads the certificates of a SignedData that may have no
// signer (a "certs-only" .p7c).
func ParseCertsOnly(b []byte) ([][]byte, error) {
	sd, err := parseSignedData(b, false)
	if err != nil {
		return nil, err
	}
	return sd.Certificates, nil
}

func parseSignedData(b []byte, needSigner bool) (*SignedData, error) {
	d, err := Normalize(b)
	if err != nil {
		return nil, err
	}
	var ci ContentInfo
	if rest, err := asn1.Unmarshal(d, &ci); err != nil {
		return nil, fmt.Errorf("%w: ContentInfo: %w", ErrFormat, err)
	} else if len(rest) > 0 {
		return nil, fmt.Errorf("%w: %d octets after the ContentInfo", ErrFormat, len(rest))
	}
	if !ci.ContentType.Equal(OIDSignedData) {
		return nil, fmt.Errorf("%w: content type %s is not signedData", ErrFormat, ci.ContentType)
	}
	var sd signedDataASN
	if rest, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: SignedData: %v", ErrFormat, errOr(err, "trailing octets"))
	}
	out := &SignedData{EContentType: sd.EncapContentInfo.EContentType}
	if ec := sd.EncapContentInfo.EContent; len(ec.FullBytes) > 0 {
		var content []byte
		if rest, err := asn1.Unmarshal(ec.Bytes, &content); err != nil || len(rest) > 0 {
			return nil, fmt.Errorf("%w: eContent is not an OCTET STRING", ErrFormat)
		}
		out.EContent = content
	}
	for rest := sd.Certificates.Bytes; len(rest) > 0; {
		var c asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &c); err != nil {
			return nil, fmt.Errorf("%w: certificates: %w", ErrFormat, err)
		}
		if c.Class == asn1.ClassUniversal && c.Tag == asn1.TagSequence {
			out.Certificates = append(out.Certificates, c.FullBytes)
		} // other CertificateChoices (attribute certificates) are not used
	}
	if len(sd.SignerInfos) == 0 && needSigner {
		return nil, fmt.Errorf("%w: no SignerInfo", ErrFormat)
	}
	for i, raw := range sd.SignerInfos {
		si, err := parseSignerInfo(raw.FullBytes)
		if err != nil {
			return nil, fmt.Errorf("signer %d: %w", i+1, err)
		}
		out.Signers = append(out.Signers, si)
	}
	return out, nil
}

func parseSignerInfo(b []byte) (SignerInfo, error) {
	var s signerInfoASN
	if rest, err := asn1.Unmarshal(b, &s); err != nil || len(rest) > 0 {
		return SignerInfo{}, fmt.Errorf("%w: SignerInfo: %v", ErrFormat, errOr(err, "trailing octets"))
	}
	si := SignerInfo{Version: s.Version, DigestAlg: s.DigestAlgorithm, SigAlg: s.SignatureAlgorithm, Signature: s.Signature}
	switch {
	case s.SID.Class == asn1.ClassUniversal && s.SID.Tag == asn1.TagSequence:
		var ias struct {
			Issuer asn1.RawValue
			Serial *big.Int
		}
		if rest, err := asn1.Unmarshal(s.SID.FullBytes, &ias); err != nil || len(rest) > 0 {
			return si, fmt.Errorf("%w: issuerAndSerialNumber: %v", ErrFormat, errOr(err, "trailing octets"))
		}
		si.Issuer, si.Serial = ias.Issuer.FullBytes, ias.Serial
	case s.SID.Class == asn1.ClassContextSpecific && s.SID.Tag == 0 && !s.SID.IsCompound:
		si.SubjectKeyID = s.SID.Bytes
	default:
		return si, fmt.Errorf("%w: unknown signer identifier", ErrFormat)
	}
	var err error
	if len(s.SignedAttrs.FullBytes) > 0 {
		si.SignedAttrsDER = append([]byte{0x31}, s.SignedAttrs.FullBytes[1:]...)
		if si.SignedAttrs, err = parseAttrs(s.SignedAttrs.Bytes); err != nil {
			return si, fmt.Errorf("signed attributes: %w", err)
		}
	}
	if len(s.UnsignedAttrs.FullBytes) > 0 {
		if si.UnsignedAttrs, err = parseAttrs(s.UnsignedAttrs.Bytes); err != nil {
			return si, fmt.Errorf("unsigned attributes: %w", err)
		}
	}
	return si, nil
}

func parseAttrs(b []byte) ([]Attr, error) {
	var out []Attr
	for len(b) > 0 {
		var a attrASN
		var err error
		if b, err = asn1.Unmarshal(b, &a); err != nil {
			return nil, fmt.Errorf("%w: attribute: %w", ErrFormat, err)
		}
		at := Attr{Type: a.Type}
		for _, v := range a.Values {
			at.Values = append(at.Values, v.FullBytes)
		}
		out = append(out, at)
	}
	return out, nil
}

func errOr(err error, msg string) any {
	if err != nil {
		return err
	}
	return msg
}

// Normalize re-encodes BER as DER lengths: indefinite lengths become
// definite, constructed OCTET STRINGs become one primitive string, and
// exactly one value must fill b. It refuses nesting deeper than MaxDepth
// and more than MaxElements values, with an error wrapping ErrFormat.
func Normalize(b []byte) ([]byte, error) {
	n := &normalizer{in: b}
	out, off, err := n.value(0, 0)
	if err != nil {
		return nil, err
	}
	if off != len(b) {
		return nil, fmt.Errorf("%w: %d octets after the outer value", ErrFormat, len(b)-off)
	}
	return out, nil
}

type normalizer struct {
	in       []byte
	elements int
}

// value reads the value at off and returns its DER and the offset after it.
func (n *normalizer) value(off, depth int) ([]byte, int, error) {
	if depth > MaxDepth {
		return nil, 0, fmt.Errorf("%w: nested deeper than %d levels", ErrFormat, MaxDepth)
	}
	if n.elements++; n.elements > MaxElements {
		return nil, 0, fmt.Errorf("%w: more than %d values", ErrFormat, MaxElements)
	}
	in := n.in
	start := off
	if off >= len(in) {
		return nil, 0, fmt.Errorf("%w: truncated at octet %d", ErrFormat, off)
	}
	constructed := in[off]&0x20 != 0
	off++
	if in[start]&0x1f == 0x1f { // high tag number: base-128 octets
		for {
			if off >= len(in) || off-start > 5 {
				return nil, 0, fmt.Errorf("%w: bad tag at octet %d", ErrFormat, start)
			}
			c := in[off]
			off++
			if c&0x80 == 0 {
				break
			}
		}
	}
	tag := in[start:off]
	if off >= len(in) {
		return nil, 0, fmt.Errorf("%w: truncated at octet %d", ErrFormat, off)
	}
	l := int(in[off])
	off++
	indefinite := false
	switch {
	case l == 0x80:
		if !constructed {
			return nil, 0, fmt.Errorf("%w: indefinite length on a primitive value at octet %d", ErrFormat, start)
		}
		indefinite = true
	case l > 0x80:
		k := l & 0x7f
		if k > 4 || off+k > len(in) {
			return nil, 0, fmt.Errorf("%w: bad length at octet %d", ErrFormat, start)
		}
		l = 0
		for _, c := range in[off : off+k] {
			l = l<<8 | int(c)
		}
		off += k
	}
	if !indefinite && (l < 0 || l > len(in)-off) {
		return nil, 0, fmt.Errorf("%w: truncated: value at octet %d wants %d octets, %d remain", ErrFormat, start, l, len(in)-off)
	}
	if !constructed {
		return TLVTag(tag, in[off:off+l]), off + l, nil
	}
	end := off + l
	var body []byte
	octets := len(tag) == 1 && tag[0] == 0x24 // constructed OCTET STRING
	for {
		if indefinite {
			if off+1 < len(in) && in[off] == 0 && in[off+1] == 0 {
				off += 2
				break
			}
			if off >= len(in) {
				return nil, 0, fmt.Errorf("%w: truncated: indefinite value at octet %d has no end", ErrFormat, start)
			}
		} else if off >= end {
			break
		}
		child, next, err := n.value(off, depth+1)
		if err != nil {
			return nil, 0, err
		}
		if !indefinite && next > end {
			return nil, 0, fmt.Errorf("%w: value at octet %d overruns its parent", ErrFormat, off)
		}
		if octets {
			var s []byte
			if _, err := asn1.Unmarshal(child, &s); err != nil {
				return nil, 0, fmt.Errorf("%w: segment of an OCTET STRING at octet %d", ErrFormat, off)
			}
			child = s
		}
		body = append(body, child...)
		off = next
	}
	if octets {
		return TLV(0x04, body), off, nil
	}
	return TLVTag(tag, body), off, nil
}

// TLVTag encodes a value under a tag of any length, with a DER length.
func TLVTag(tag, content []byte) []byte {
	n := len(content)
	out := make([]byte, 0, len(tag)+6+n)
	out = append(out, tag...)
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	case n < 0x10000:
		out = append(out, 0x82, byte(n>>8), byte(n))
	case n < 0x1000000:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		out = append(out, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, content...)
}

// TSTInfo is RFC 3161's TSTInfo.
type TSTInfo struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint MessageImprint
	SerialNumber   *big.Int
	GenTime        time.Time     `asn1:"generalized"`
	Accuracy       asn1.RawValue `asn1:"optional"`
	Ordering       bool          `asn1:"optional,default:false"`
	Nonce          *big.Int      `asn1:"optional"`
	TSA            asn1.RawValue `asn1:"optional,explicit,tag:0"`
	Extensions     asn1.RawValue `asn1:"optional,tag:1"`
}

// MessageImprint is RFC 3161's MessageImprint.
type MessageImprint struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	HashedMessage []byte
}

// ParseTimeStampToken reads a TimeStampToken: a SignedData of one signer
// over a TSTInfo.
func ParseTimeStampToken(b []byte) (*SignedData, *TSTInfo, error) {
	sd, err := ParseSignedData(b)
	if err != nil {
		return nil, nil, err
	}
	if !sd.EContentType.Equal(OIDTSTInfo) || sd.EContent == nil || len(sd.Signers) != 1 {
		return nil, nil, fmt.Errorf("%w: the timestamp token holds no TSTInfo or not exactly one signer", ErrFormat)
	}
	var info TSTInfo
	if rest, err := asn1.Unmarshal(sd.EContent, &info); err != nil || len(rest) > 0 {
		return nil, nil, fmt.Errorf("%w: TSTInfo: %v", ErrFormat, errOr(err, "trailing octets"))
	}
	return sd, &info, nil
}
