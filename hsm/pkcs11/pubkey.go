package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"

	"github.com/muhr-pki/muhr/hsm"
)

var (
	oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521 = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
)

// ecParams is CKA_EC_PARAMS for a named curve: the DER of its OID.
func ecParams(oid asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(oid)
	if err != nil {
		panic(err) // constant input
	}
	return b
}

// curveOf reads CKA_EC_PARAMS (namedCurve only; explicit parameters are
// refused, as RFC 5480 requires for certificates anyway).
func curveOf(params []byte) (elliptic.Curve, error) {
	var oid asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(params, &oid)
	if err != nil || len(rest) > 0 {
		return nil, errors.New("CKA_EC_PARAMS is not a named-curve OID")
	}
	switch {
	case oid.Equal(oidP256):
		return elliptic.P256(), nil
	case oid.Equal(oidP384):
		return elliptic.P384(), nil
	case oid.Equal(oidP521):
		return elliptic.P521(), nil
	}
	return nil, fmt.Errorf("unsupported curve %v", oid)
}

// ecPublicKey builds the Go key from CKA_EC_PARAMS and CKA_EC_POINT. v2.40
// says the point is a DER OCTET STRING around the uncompressed point; some
// tokens return the bare point, so both are accepted. The lengths tell them
// apart, since both start with byte 0x04.
func ecPublicKey(params, point []byte) (*ecdsa.PublicKey, error) {
	curve, err := curveOf(params)
	if err != nil {
		return nil, err
	}
	size := (curve.Params().BitSize + 7) / 8
	raw := point
	if len(point) != 1+2*size {
		var inner []byte
		rest, err := asn1.Unmarshal(point, &inner)
		if err != nil || len(rest) > 0 {
			return nil, errors.New("CKA_EC_POINT is neither a DER OCTET STRING nor an uncompressed point")
		}
		raw = inner
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
	if err != nil {
		return nil, fmt.Errorf("CKA_EC_POINT: %w", err)
	}
	return pub, nil
}

// rsaPublicKey builds the Go key from CKA_MODULUS and CKA_PUBLIC_EXPONENT.
func rsaPublicKey(modulus, exponent []byte) (*rsa.PublicKey, error) {
	n := new(big.Int).SetBytes(modulus)
	e := new(big.Int).SetBytes(exponent)
	if n.Sign() == 0 || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
		return nil, errors.New("CKA_MODULUS or CKA_PUBLIC_EXPONENT unusable")
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

// algorithmOf names a key for KeyInfo; keys Muhr would not generate still
// get a readable name.
func algorithmOf(pub crypto.PublicKey, keyType uint, params []byte, modulusBits int) hsm.KeyAlgorithm {
	switch keyType {
	case pkcs11.CKK_EC:
		curve, err := curveOf(params)
		if err != nil {
			return "ecdsa-unknown"
		}
		switch curve {
		case elliptic.P256():
			return hsm.ECDSAP256
		case elliptic.P384():
			return hsm.ECDSAP384
		}
		return hsm.KeyAlgorithm(fmt.Sprintf("ecdsa-p%d", curve.Params().BitSize))
	case pkcs11.CKK_RSA:
		if k, ok := pub.(*rsa.PublicKey); ok {
			modulusBits = k.N.BitLen()
		}
		return hsm.KeyAlgorithm(fmt.Sprintf("rsa-%d", modulusBits))
	}
	return hsm.KeyAlgorithm(fmt.Sprintf("keytype-%#x", keyType))
}
