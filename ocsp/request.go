// Package ocsp is the center's RFC 6960 / RFC 5019 OCSP responder: a strict
// parser that answers every CertID of a request (golang.org/x/crypto/ocsp
// reads only the first), an Authority that decides each status from the
// store and signs with the CA's delegated OCSP signer, keeping pre-signed
// answers in memory, and a Responder that speaks HTTP (GET and POST).
package ocsp

import (
	"bytes"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// Limits of a request.
const (
	// MaxCertIDs is the most CertIDs one request may ask about.
	MaxCertIDs = 50
	// MaxNonce is the longest nonce RFC 9654 allows (1..128 octets).
	MaxNonce = 128
	// MaxRequestBytes bounds a POST body and a decoded GET request.
	MaxRequestBytes = 64 << 10
)

// ErrMalformed is a request that does not parse or breaks a limit; it is
// answered with malformedRequest.
var ErrMalformed = errors.New("ocsp: malformed request")

var (
	oidSHA1      = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidNonce     = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
	oidBasic     = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}
	oidArchive   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 6}
	oidExtRevoke = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 9}
)

// CertID names one certificate asked about (RFC 6960 §4.1.1).
type CertID struct {
	Hash     crypto.Hash // crypto.SHA1 or crypto.SHA256
	NameHash []byte
	KeyHash  []byte
	Serial   *big.Int
}

// Request is a parsed OCSPRequest.
type Request struct {
	CertIDs []CertID
	// Nonce is the RFC 9654 nonce (1..128 octets); nil when absent.
	Nonce []byte
}

type asnOCSPRequest struct {
	TBS       asnTBSRequest
	Signature asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

type asnTBSRequest struct {
	Version    int           `asn1:"explicit,tag:0,default:0,optional"`
	Requestor  asn1.RawValue `asn1:"explicit,tag:1,optional"`
	List       []asnSingleRequest
	Extensions []pkix.Extension `asn1:"explicit,tag:2,optional"`
}

type asnSingleRequest struct {
	CertID     asnCertID
	Extensions []pkix.Extension `asn1:"explicit,tag:0,optional"`
}

type asnCertID struct {
	Hash     pkix.AlgorithmIdentifier
	NameHash []byte
	KeyHash  []byte
	Serial   *big.Int
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// ParseRequest parses a DER OCSPRequest strictly: trailing bytes, a version
// other than v1, no CertID or more than MaxCertIDs, a hash other than SHA-1
// or SHA-256 or of the wrong length, a negative serial, a repeated
// extension, or a nonce outside 1..MaxNonce octets are ErrMalformed. An
// optional signature is accepted and not checked (we answer anyone).
func ParseRequest(der []byte) (*Request, error) {
	if len(der) > MaxRequestBytes {
		return nil, malformed("%d bytes, over %d", len(der), MaxRequestBytes)
	}
	if r, ok := parseCommon(der); ok {
		return r, nil
	}
	return parseFull(der)
}

// parseFull is ParseRequest with encoding/asn1, for every request
// parseCommon does not take.
func parseFull(der []byte) (*Request, error) {
	var raw asnOCSPRequest
	rest, err := asn1.Unmarshal(der, &raw)
	if err != nil {
		return nil, malformed("%v", err)
	}
	if len(rest) > 0 {
		return nil, malformed("%d bytes after the request", len(rest))
	}
	tbs := raw.TBS
	if tbs.Version != 0 {
		return nil, malformed("version %d", tbs.Version+1)
	}
	if len(tbs.List) == 0 {
		return nil, malformed("no CertID")
	}
	if len(tbs.List) > MaxCertIDs {
		return nil, malformed("%d CertIDs, over %d", len(tbs.List), MaxCertIDs)
	}
	req := &Request{CertIDs: make([]CertID, 0, len(tbs.List))}
	for i, sr := range tbs.List {
		id, err := certID(sr.CertID)
		if err != nil {
			return nil, fmt.Errorf("CertID %d: %w", i+1, err)
		}
		if err := uniqueExtensions(sr.Extensions); err != nil {
			return nil, err
		}
		req.CertIDs = append(req.CertIDs, id)
	}
	if err := uniqueExtensions(tbs.Extensions); err != nil {
		return nil, err
	}
	for _, ext := range tbs.Extensions {
		if !ext.Id.Equal(oidNonce) {
			continue // unknown extensions are ignored (RFC 6960 §4.4)
		}
		var nonce []byte
		rest, err := asn1.Unmarshal(ext.Value, &nonce)
		if err != nil || len(rest) > 0 {
			return nil, malformed("nonce is not one OCTET STRING")
		}
		if len(nonce) < 1 || len(nonce) > MaxNonce {
			return nil, malformed("nonce of %d octets, outside 1..%d", len(nonce), MaxNonce)
		}
		req.Nonce = nonce
	}
	return req, nil
}

func certID(c asnCertID) (CertID, error) {
	var h crypto.Hash
	switch {
	case c.Hash.Algorithm.Equal(oidSHA1):
		h = crypto.SHA1
	case c.Hash.Algorithm.Equal(oidSHA256):
		h = crypto.SHA256
	default:
		return CertID{}, malformed("hash algorithm %v is not SHA-1 or SHA-256", c.Hash.Algorithm)
	}
	// Parameters: absent or NULL.
	if p := c.Hash.Parameters; len(p.FullBytes) > 0 && !bytes.Equal(p.FullBytes, asn1.NullBytes) {
		return CertID{}, malformed("hash parameters are not NULL")
	}
	if len(c.NameHash) != h.Size() || len(c.KeyHash) != h.Size() {
		return CertID{}, malformed("issuer hashes of %d and %d octets for a %d-octet hash", len(c.NameHash), len(c.KeyHash), h.Size())
	}
	if c.Serial == nil || c.Serial.Sign() < 0 {
		return CertID{}, malformed("negative serial")
	}
	return CertID{Hash: h, NameHash: c.NameHash, KeyHash: c.KeyHash, Serial: c.Serial}, nil
}

func uniqueExtensions(exts []pkix.Extension) error {
	for i := range exts {
		for j := range i {
			if exts[i].Id.Equal(exts[j].Id) {
				return malformed("extension %v twice", exts[i].Id)
			}
		}
	}
	return nil
}
