package policy

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
)

// KeyID returns the subjectKeyIdentifier for pub by RFC 7093 §2 method 1:
// the leftmost 160 bits of the SHA-256 of the subjectPublicKey BIT STRING
// value. It is the method Go itself uses by default, so a key identifier
// computed here matches one computed by crypto/x509, and it avoids SHA-1.
func KeyID(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("key identifier: %w", err)
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	rest, err := asn1.Unmarshal(spki, &info)
	if err != nil {
		return nil, fmt.Errorf("key identifier: parsing public key: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("key identifier: trailing data after public key")
	}
	sum := sha256.Sum256(info.PublicKey.Bytes)
	return sum[:20], nil
}
