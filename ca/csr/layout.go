package csr

import (
	"crypto/ecdh"
	"encoding/asn1"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	oidExtensionRequest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}
	oidPublicKeyEC      = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidCurveP224        = asn1.ObjectIdentifier{1, 3, 132, 0, 33}
	oidCurveP256        = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidCurveP384        = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidCurveP521        = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
)

// layout is what inspect reads from the raw request, independently of
// crypto/x509, so Check can cross-check the parsed fields against it.
type layout struct {
	info       []byte                  // CertificationRequestInfo, whole element
	spki       []byte                  // SubjectPublicKeyInfo, whole element
	sigAlg     []byte                  // signatureAlgorithm, whole element
	sig        []byte                  // signature value (the BIT STRING's bytes)
	attributes []asn1.ObjectIdentifier // attribute types other than extensionRequest
}

// inspect checks der strictly (see checkDER) and reads the PKCS#10
// structure (RFC 2986 §4):
//
//	CertificationRequest ::= SEQUENCE {
//	  certificationRequestInfo CertificationRequestInfo,
//	  signatureAlgorithm AlgorithmIdentifier,
//	  signature BIT STRING }
//	CertificationRequestInfo ::= SEQUENCE {
//	  version INTEGER { v1(0) }, subject Name,
//	  subjectPKInfo SubjectPublicKeyInfo, attributes [0] Attributes }
func inspect(der []byte) (*layout, error) {
	if err := checkDER(der); err != nil {
		return nil, err
	}
	var lay layout
	var req, sig, info cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&req, cbasn1.SEQUENCE) ||
		!req.ReadASN1Element((*cryptobyte.String)(&lay.info), cbasn1.SEQUENCE) ||
		!req.ReadASN1Element((*cryptobyte.String)(&lay.sigAlg), cbasn1.SEQUENCE) ||
		!req.ReadASN1(&sig, cbasn1.BIT_STRING) || !req.Empty() || !in.Empty() {
		return nil, fmt.Errorf("%w: not a PKCS#10 CertificationRequest (info, algorithm, signature)", ErrMalformed)
	}
	if len(sig) == 0 || sig[0] != 0 {
		return nil, fmt.Errorf("%w: signature BIT STRING has unused bits", ErrMalformed)
	}
	lay.sig = sig[1:]
	whole := cryptobyte.String(lay.info)
	var version int64
	var subject, attrs cryptobyte.String
	var hasAttrs bool
	if !whole.ReadASN1(&info, cbasn1.SEQUENCE) || !info.ReadASN1Integer(&version) {
		return nil, fmt.Errorf("%w: CertificationRequestInfo has no version", ErrMalformed)
	}
	if version != 0 {
		return nil, fmt.Errorf("%w: version %d; PKCS#10 requests are version 1 (encoded 0)", ErrMalformed, version)
	}
	if !info.ReadASN1Element(&subject, cbasn1.SEQUENCE) ||
		!info.ReadASN1Element((*cryptobyte.String)(&lay.spki), cbasn1.SEQUENCE) ||
		!info.ReadOptionalASN1(&attrs, &hasAttrs, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!info.Empty() {
		return nil, fmt.Errorf("%w: CertificationRequestInfo is not (version, subject, key, [0] attributes)", ErrMalformed)
	}
	if err := readAttributes(attrs, &lay); err != nil {
		return nil, err
	}
	if err := inspectKey(lay.spki); err != nil {
		return nil, err
	}
	return &lay, nil
}

// readAttributes records the attribute types, for logging what is ignored.
func readAttributes(attrs cryptobyte.String, lay *layout) error {
	for !attrs.Empty() {
		var attr, values cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&oid) ||
			!attr.ReadASN1(&values, cbasn1.SET) || !attr.Empty() {
			return fmt.Errorf("%w: a CSR attribute is not (type, SET OF values)", ErrMalformed)
		}
		if !oid.Equal(oidExtensionRequest) {
			lay.attributes = append(lay.attributes, oid)
		}
	}
	return nil
}

// inspectKey looks at an EC key before crypto/x509 does, because x509 only
// says "failed to unmarshal elliptic curve point" where the subscriber
// needs to know what is wrong with the key.
func inspectKey(spki []byte) error {
	whole := cryptobyte.String(spki)
	var s, alg, point cryptobyte.String
	var algOID asn1.ObjectIdentifier
	if !whole.ReadASN1(&s, cbasn1.SEQUENCE) || !s.ReadASN1(&alg, cbasn1.SEQUENCE) ||
		!alg.ReadASN1ObjectIdentifier(&algOID) || !s.ReadASN1(&point, cbasn1.BIT_STRING) || !s.Empty() {
		return fmt.Errorf("%w: SubjectPublicKeyInfo is not (algorithm, key)", ErrMalformed)
	}
	if !algOID.Equal(oidPublicKeyEC) {
		return nil // RSA and the rest are judged by Check on the parsed key
	}
	var curve asn1.ObjectIdentifier
	if !alg.ReadASN1ObjectIdentifier(&curve) || !alg.Empty() {
		return fmt.Errorf("%w: EC key without a named curve (explicit curve parameters are not accepted); use P-256 or P-384", ErrKeyType)
	}
	var c ecdh.Curve
	var name string
	switch {
	case curve.Equal(oidCurveP256):
		c, name = ecdh.P256(), "P-256"
	case curve.Equal(oidCurveP384):
		c, name = ecdh.P384(), "P-384"
	case curve.Equal(oidCurveP521):
		c, name = ecdh.P521(), "P-521"
	case curve.Equal(oidCurveP224):
		return nil // x509 parses it; Check refuses the curve
	default:
		return fmt.Errorf("%w: EC curve %v is not accepted; use P-256 or P-384", ErrKeyType, curve)
	}
	if len(point) == 0 || point[0] != 0 {
		return fmt.Errorf("%w: EC public key BIT STRING has unused bits", ErrInvalidKey)
	}
	p := point[1:]
	switch {
	case len(p) == 0:
		return fmt.Errorf("%w: empty EC public point", ErrInvalidKey)
	case p[0] == 0x02 || p[0] == 0x03:
		return fmt.Errorf("%w: compressed %s point; send the uncompressed form (04 || X || Y)", ErrInvalidKey, name)
	case len(p) == 1 && p[0] == 0:
		return fmt.Errorf("%w: the %s public point is the point at infinity", ErrInvalidKey, name)
	}
	// ecdh's NewPublicKey checks the encoding, the coordinate range and
	// that the point is on the curve (NIST SP 800-56A §5.6.2.3.3).
	if _, err := c.NewPublicKey(p); err != nil {
		return fmt.Errorf("%w: the EC public point is not on curve %s (or its coordinates are out of range); the key is corrupt, generate a new one", ErrInvalidKey, name)
	}
	return nil
}
