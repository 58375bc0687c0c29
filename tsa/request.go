package tsa

import (
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"slices"
)

// MaxNonceBytes bounds the nonce a client may send: 1 KiB is echoed, larger
// is refused as badRequest (the token and its ledger row would grow with it).
const MaxNonceBytes = 1024

// Request is a checked TimeStampReq.
type Request struct {
	Hash    crypto.Hash
	HashOID asn1.ObjectIdentifier
	Imprint []byte
	// ImprintDER is the request's MessageImprint as it came: the token
	// carries it byte for byte (RFC 3161 §2.4.2).
	ImprintDER    []byte
	Policy        asn1.ObjectIdentifier // as requested; nil when absent
	Nonce         *big.Int              // nil when absent
	CertReq       bool
	HasExtensions bool
}

// The TimeStampReq of RFC 3161 section 2.4.1.
type tsReq struct {
	Version        int
	MessageImprint asn1.RawValue
	ReqPolicy      asn1.ObjectIdentifier `asn1:"optional"`
	Nonce          *big.Int              `asn1:"optional"`
	CertReq        bool                  `asn1:"optional,default:false"`
	Extensions     []pkix.Extension      `asn1:"tag:0,optional"`
}

// Hash algorithms: the accepted ones with their digest sizes, and the
// known-weak ones that get badAlg rather than badDataFormat.
var (
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	accepted = []struct {
		oid  asn1.ObjectIdentifier
		hash crypto.Hash
	}{{oidSHA256, crypto.SHA256}, {oidSHA384, crypto.SHA384}, {oidSHA512, crypto.SHA512}}
)

// ParseRequest decodes and checks a DER TimeStampReq against the accepted
// hashes. Policy and extensions are checked by the Server, which knows its
// configuration. Any error is a *Rejection.
func ParseRequest(der []byte) (*Request, *Rejection) {
	var q tsReq
	rest, err := asn1.Unmarshal(der, &q)
	if err != nil {
		return nil, reject(BadDataFormat, "request is not a DER TimeStampReq")
	}
	if len(rest) > 0 {
		return nil, reject(BadDataFormat, "trailing data after the TimeStampReq")
	}
	var mi messageImprint
	if rest, err := asn1.Unmarshal(q.MessageImprint.FullBytes, &mi); err != nil || len(rest) > 0 {
		return nil, reject(BadDataFormat, "request messageImprint is not DER")
	}
	if q.Version != 1 {
		return nil, reject(BadDataFormat, "unsupported TimeStampReq version %d", q.Version)
	}
	alg := mi.HashAlgorithm
	i := slices.IndexFunc(accepted, func(a struct {
		oid  asn1.ObjectIdentifier
		hash crypto.Hash
	}) bool {
		return a.oid.Equal(alg.Algorithm)
	})
	if i < 0 {
		return nil, reject(BadAlg, "hash algorithm %s is not accepted (use SHA-256, SHA-384 or SHA-512)", alg.Algorithm)
	}
	// Parameters are absent or NULL for the SHA-2 family.
	if len(alg.Parameters.FullBytes) > 0 && !slices.Equal(alg.Parameters.FullBytes, asn1.NullBytes) {
		return nil, reject(BadDataFormat, "hash algorithm parameters must be absent or NULL")
	}
	h := accepted[i].hash
	if len(mi.HashedMessage) != h.Size() {
		return nil, reject(BadDataFormat, "message imprint is %d bytes, %s needs %d",
			len(mi.HashedMessage), h, h.Size())
	}
	if q.Nonce != nil && len(q.Nonce.Bytes()) > MaxNonceBytes {
		return nil, reject(BadRequest, "nonce over %d bytes", MaxNonceBytes)
	}
	return &Request{
		Hash:          h,
		HashOID:       accepted[i].oid,
		Imprint:       mi.HashedMessage,
		ImprintDER:    q.MessageImprint.FullBytes,
		Policy:        q.ReqPolicy,
		Nonce:         q.Nonce,
		CertReq:       q.CertReq,
		HasExtensions: q.Extensions != nil, // present, even if empty
	}, nil
}
