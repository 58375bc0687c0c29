package ocsp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"time"
)

// ResponseStatus is OCSPResponseStatus (RFC 6960 §4.2.1).
type ResponseStatus int

// Response statuses.
const (
	Successful       ResponseStatus = 0
	MalformedRequest ResponseStatus = 1
	InternalError    ResponseStatus = 2
	TryLater         ResponseStatus = 3
	Unauthorized     ResponseStatus = 6
)

// Cert statuses of a SingleResponse.
const (
	Good    = 0
	Revoked = 1
)

// ReasonCertificateHold is CRLReason certificateHold (RFC 5280 §5.3.1).
const ReasonCertificateHold = 6

// unissuedRevokedAt is the revocationTime RFC 6960 §2.2 prescribes for a
// serial that was never issued.
var unissuedRevokedAt = time.Unix(0, 0).UTC()

// ErrorResponse is the unsigned OCSPResponse of a failure status.
func ErrorResponse(s ResponseStatus) []byte {
	return []byte{0x30, 0x03, 0x0a, 0x01, byte(s)}
}

// single is one answer: the CertID as asked, and the status.
type single struct {
	id        CertID
	status    int // Good or Revoked
	revokedAt time.Time
	reason    int  // CRLReason; -1 none
	unissued  bool // never issued: adds the extended-revoke extension
}

// signer is a CA's delegated OCSP responder.
type signer struct {
	label   string // the key's label on the token
	key     crypto.Signer
	certDER []byte
	keyHash []byte // SHA-1 of the subjectPublicKey BIT STRING: responderID byKey
	alg     pkix.AlgorithmIdentifier
	hash    crypto.Hash
	enc     encoded // the DER parts that do not change
}

var (
	oidECDSASHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSASHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidRSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
)

// contextSigner is what the token's signers add to crypto.Signer.
type contextSigner interface {
	SignContext(ctx context.Context, rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

func newSigner(key crypto.Signer, cert *x509.Certificate) (*signer, error) {
	var spki struct {
		Alg pkix.AlgorithmIdentifier
		Key asn1.BitString
	}
	if _, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, fmt.Errorf("ocsp: signer certificate key: %w", err)
	}
	kh := sha1.Sum(spki.Key.RightAlign())
	s := &signer{key: key, certDER: cert.Raw, keyHash: kh[:]}
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		if pub.Curve == elliptic.P384() {
			s.alg, s.hash = pkix.AlgorithmIdentifier{Algorithm: oidECDSASHA384}, crypto.SHA384
		} else {
			s.alg, s.hash = pkix.AlgorithmIdentifier{Algorithm: oidECDSASHA256}, crypto.SHA256
		}
	case *rsa.PublicKey:
		s.alg, s.hash = pkix.AlgorithmIdentifier{Algorithm: oidRSASHA256, Parameters: asn1.NullRawValue}, crypto.SHA256
	default:
		return nil, fmt.Errorf("ocsp: signer key type %T not supported", pub)
	}
	if !publicKeyEqual(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("ocsp: signer key does not match its certificate")
	}
	var err error
	if s.enc, err = encodeConstant(s.keyHash, s.alg, s.certDER); err != nil {
		return nil, err
	}
	return s, nil
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// sign makes a successful, signed BasicOCSPResponse for the answers, all
// with the same thisUpdate/nextUpdate; nonce (when set) is echoed.
// archiveCutoff is added to every SingleResponse.
// A signer that takes a context (hsm.ContextSigner, as the token's do)
// gets ctx: waiting for a free session ends with it.
func (s *signer) sign(ctx context.Context, answers []single, produced, thisUpdate, nextUpdate, archiveCutoff time.Time, nonce []byte) ([]byte, error) {
	tbs, err := s.enc.encodeTBS(answers, produced, thisUpdate, nextUpdate, archiveCutoff, nonce)
	if err != nil {
		return nil, err
	}
	h := s.hash.New()
	h.Write(tbs)
	var sig []byte
	if cs, ok := s.key.(contextSigner); ok {
		sig, err = cs.SignContext(ctx, rand.Reader, h.Sum(nil), s.hash)
	} else {
		sig, err = s.key.Sign(rand.Reader, h.Sum(nil), s.hash)
	}
	if err != nil {
		return nil, fmt.Errorf("ocsp: sign: %w", err)
	}
	return s.enc.assemble(tbs, sig)
}
