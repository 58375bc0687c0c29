package ocsp

import (
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// The response is written by hand rather than by encoding/asn1: a live
// (nonce) answer is encoded once per request, and reflection over the
// nested structs cost about as much CPU as the HTTP exchange around it.
// The parts that never change for a signer (responder ID, signature
// algorithm, certs) are encoded once in newSigner. encode_oracle_test.go
// keeps the encoding/asn1 encoder and checks the two agree byte for byte.

// Context-specific tags used below (cryptobyte's asn1.Tag constructors).
var (
	tagExplicit0 = cbasn1.Tag(0).ContextSpecific().Constructed()
	tagExplicit1 = cbasn1.Tag(1).ContextSpecific().Constructed()
	tagExplicit2 = cbasn1.Tag(2).ContextSpecific().Constructed()
	tagGood      = cbasn1.Tag(0).ContextSpecific()               // [0] IMPLICIT NULL
	tagRevoked   = cbasn1.Tag(1).ContextSpecific().Constructed() // [1] IMPLICIT RevokedInfo
)

// Fixed DER pieces.
var (
	derSHA1Alg   = mustMarshal(pkix.AlgorithmIdentifier{Algorithm: oidSHA1, Parameters: asn1.NullRawValue})
	derSHA256Alg = mustMarshal(pkix.AlgorithmIdentifier{Algorithm: oidSHA256, Parameters: asn1.NullRawValue})
	derBasicOID  = mustMarshal(oidBasic)
)

func mustMarshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(err) // constants above: a programming error, caught by every test
	}
	return b
}

// encoded are a signer's constant parts of a BasicOCSPResponse.
type encoded struct {
	responderID []byte // [2] EXPLICIT OCTET STRING: byKey
	alg         []byte // the signatureAlgorithm AlgorithmIdentifier
	certs       []byte // [0] EXPLICIT SEQUENCE OF Certificate: the signer's
}

func encodeConstant(keyHash []byte, alg pkix.AlgorithmIdentifier, certDER []byte) (encoded, error) {
	a, err := asn1.Marshal(alg)
	if err != nil {
		return encoded{}, fmt.Errorf("ocsp: encode signature algorithm: %w", err)
	}
	var rid, certs cryptobyte.Builder
	rid.AddASN1(tagExplicit2, func(b *cryptobyte.Builder) { b.AddASN1OctetString(keyHash) })
	certs.AddASN1(tagExplicit0, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(certDER) })
	})
	e := encoded{alg: a}
	if e.responderID, err = rid.Bytes(); err != nil {
		return encoded{}, err
	}
	if e.certs, err = certs.Bytes(); err != nil {
		return encoded{}, err
	}
	return e, nil
}

// encodeTBS is the DER ResponseData of the answers: responderID byKey,
// producedAt, one SingleResponse each (with the archive cutoff), and the
// extended-revoke and nonce extensions when they apply. Times are UTC,
// truncated to the second.
func (e *encoded) encodeTBS(answers []single, produced, thisUpdate, nextUpdate, archiveCutoff time.Time, nonce []byte) ([]byte, error) {
	produced, thisUpdate, nextUpdate = utcSecond(produced), utcSecond(thisUpdate), utcSecond(nextUpdate)
	archiveCutoff = utcSecond(archiveCutoff)
	unissued := false
	for _, a := range answers {
		if a.status != Good && a.status != Revoked {
			return nil, fmt.Errorf("ocsp: status %d", a.status)
		}
		unissued = unissued || a.unissued
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, 200+150*len(answers)+len(nonce)))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(e.responderID)
		b.AddASN1GeneralizedTime(produced)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for i := range answers {
				addSingle(b, &answers[i], thisUpdate, nextUpdate, archiveCutoff)
			}
		})
		if !unissued && nonce == nil {
			return
		}
		b.AddASN1(tagExplicit1, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				if unissued {
					addExtension(b, oidExtRevoke, func(b *cryptobyte.Builder) { b.AddASN1NULL() })
				}
				if nonce != nil {
					addExtension(b, oidNonce, func(b *cryptobyte.Builder) { b.AddASN1OctetString(nonce) })
				}
			})
		})
	})
	tbs, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ocsp: encode response data: %w", err)
	}
	return tbs, nil
}

func addSingle(b *cryptobyte.Builder, a *single, thisUpdate, nextUpdate, archiveCutoff time.Time) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // CertID, as asked
			b.AddBytes(hashAlgDER(a.id.Hash))
			b.AddASN1OctetString(a.id.NameHash)
			b.AddASN1OctetString(a.id.KeyHash)
			if a.id.Serial == nil {
				b.SetError(fmt.Errorf("ocsp: CertID without a serial"))
				return
			}
			b.AddASN1BigInt(a.id.Serial)
		})
		if a.status == Good {
			b.AddASN1(tagGood, func(*cryptobyte.Builder) {})
		} else {
			b.AddASN1(tagRevoked, func(b *cryptobyte.Builder) {
				b.AddASN1GeneralizedTime(utcSecond(a.revokedAt))
				// encoding/asn1 leaves an OPTIONAL zero value out, and so
				// the reason unspecified (0), which is never given anyway.
				if a.reason > 0 {
					b.AddASN1(tagExplicit0, func(b *cryptobyte.Builder) { b.AddASN1Enum(int64(a.reason)) })
				}
			})
		}
		b.AddASN1GeneralizedTime(thisUpdate)
		b.AddASN1(tagExplicit0, func(b *cryptobyte.Builder) { b.AddASN1GeneralizedTime(nextUpdate) })
		b.AddASN1(tagExplicit1, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addExtension(b, oidArchive, func(b *cryptobyte.Builder) { b.AddASN1GeneralizedTime(archiveCutoff) })
			})
		})
	})
}

// addExtension writes a non-critical Extension whose extnValue is what
// value writes.
func addExtension(b *cryptobyte.Builder, id asn1.ObjectIdentifier, value cryptobyte.BuilderContinuation) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(id)
		b.AddASN1(cbasn1.OCTET_STRING, value)
	})
}

// assemble wraps the signed ResponseData into a successful OCSPResponse.
func (e *encoded) assemble(tbs, sig []byte) ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, len(tbs)+len(sig)+len(e.certs)+len(e.alg)+48))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Enum(int64(Successful))
		b.AddASN1(tagExplicit0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddBytes(derBasicOID)
				b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddBytes(tbs)
						b.AddBytes(e.alg)
						b.AddASN1BitString(sig)
						b.AddBytes(e.certs)
					})
				})
			})
		})
	})
	return b.Bytes()
}

func hashAlgDER(h crypto.Hash) []byte {
	if h == crypto.SHA256 {
		return derSHA256Alg
	}
	return derSHA1Alg
}

func utcSecond(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }
