package ocsp

import (
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

type asnResponse struct {
	Status asn1.Enumerated
	Bytes  asnResponseBytes `asn1:"explicit,tag:0"`
}

type asnResponseBytes struct {
	Type     asn1.ObjectIdentifier
	Response []byte
}

type asnBasic struct {
	TBS       asn1.RawValue
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
	Certs     []asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

type asnResponseData struct {
	ResponderKeyHash []byte    `asn1:"explicit,tag:2"`
	ProducedAt       time.Time `asn1:"generalized"`
	Responses        []asnSingleResponse
	Extensions       []pkix.Extension `asn1:"explicit,tag:1,optional"`
}

type asnSingleResponse struct {
	CertID     asnCertID
	Status     asn1.RawValue
	ThisUpdate time.Time        `asn1:"generalized"`
	NextUpdate time.Time        `asn1:"generalized,explicit,tag:0"`
	Extensions []pkix.Extension `asn1:"explicit,tag:1,optional"`
}

type asnRevokedInfo struct {
	Time   time.Time       `asn1:"generalized"`
	Reason asn1.Enumerated `asn1:"explicit,tag:0,optional"`
}

// signer is a CA's delegated OCSP responder.
type signer struct {
	label   string // the key's label on the token
	key     crypto.Signer
	certDER []byte
	keyHash []byte // SHA-1 of the subjectPublicKey BIT STRING: responderID byKey
	alg     pkix.AlgorithmIdentifier
	hash    crypto.Hash
}

var (
	oidECDSASHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSASHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidRSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
)

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
	return s, nil
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// sign makes a successful, signed BasicOCSPResponse for the answers, all
// with the same thisUpdate/nextUpdate; nonce (when set) is echoed.
// archiveCutoff is added to every SingleResponse.
func (s *signer) sign(answers []single, produced, thisUpdate, nextUpdate, archiveCutoff time.Time, nonce []byte) ([]byte, error) {
	rd := asnResponseData{ResponderKeyHash: s.keyHash, ProducedAt: produced.UTC().Truncate(time.Second)}
	cutoff, err := asn1.MarshalWithParams(archiveCutoff.UTC().Truncate(time.Second), "generalized")
	if err != nil {
		return nil, err
	}
	unissued := false
	for _, a := range answers {
		sr := asnSingleResponse{
			CertID:     asnCertID{Hash: hashAlg(a.id.Hash), NameHash: a.id.NameHash, KeyHash: a.id.KeyHash, Serial: a.id.Serial},
			ThisUpdate: thisUpdate.UTC().Truncate(time.Second), NextUpdate: nextUpdate.UTC().Truncate(time.Second),
			Extensions: []pkix.Extension{{Id: oidArchive, Value: cutoff}},
		}
		switch a.status {
		case Good:
			sr.Status = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0}
		case Revoked:
			ri := asnRevokedInfo{Time: a.revokedAt.UTC().Truncate(time.Second)}
			if a.reason >= 0 {
				ri.Reason = asn1.Enumerated(a.reason)
			}
			b, err := marshalRevoked(ri, a.reason >= 0)
			if err != nil {
				return nil, err
			}
			sr.Status = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: b}
		default:
			return nil, fmt.Errorf("ocsp: status %d", a.status)
		}
		unissued = unissued || a.unissued
		rd.Responses = append(rd.Responses, sr)
	}
	if unissued {
		rd.Extensions = append(rd.Extensions, pkix.Extension{Id: oidExtRevoke, Value: asn1.NullBytes})
	}
	if nonce != nil {
		v, err := asn1.Marshal(nonce)
		if err != nil {
			return nil, err
		}
		rd.Extensions = append(rd.Extensions, pkix.Extension{Id: oidNonce, Value: v})
	}
	tbs, err := asn1.Marshal(rd)
	if err != nil {
		return nil, fmt.Errorf("ocsp: encode response data: %w", err)
	}
	h := s.hash.New()
	h.Write(tbs)
	sig, err := s.key.Sign(rand.Reader, h.Sum(nil), s.hash)
	if err != nil {
		return nil, fmt.Errorf("ocsp: sign: %w", err)
	}
	basic, err := asn1.Marshal(asnBasic{TBS: asn1.RawValue{FullBytes: tbs}, Algorithm: s.alg,
		Signature: asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}, Certs: []asn1.RawValue{{FullBytes: s.certDER}}})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(asnResponse{Status: asn1.Enumerated(Successful), Bytes: asnResponseBytes{Type: oidBasic, Response: basic}})
}

// marshalRevoked encodes RevokedInfo's contents (the [1] IMPLICIT tag is
// put on by the caller).
func marshalRevoked(ri asnRevokedInfo, withReason bool) ([]byte, error) {
	var full []byte
	var err error
	if withReason {
		full, err = asn1.Marshal(ri)
	} else {
		full, err = asn1.Marshal(struct {
			Time time.Time `asn1:"generalized"`
		}{ri.Time})
	}
	if err != nil {
		return nil, err
	}
	var rv asn1.RawValue
	if _, err := asn1.Unmarshal(full, &rv); err != nil {
		return nil, err
	}
	return rv.Bytes, nil
}

func hashAlg(h crypto.Hash) pkix.AlgorithmIdentifier {
	if h == crypto.SHA256 {
		return pkix.AlgorithmIdentifier{Algorithm: oidSHA256, Parameters: asn1.NullRawValue}
	}
	return pkix.AlgorithmIdentifier{Algorithm: oidSHA1, Parameters: asn1.NullRawValue}
}
