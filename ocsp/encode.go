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

// The response is written by hand (lengths first, then one buffer) rather
// than by encoding/asn1: a live (nonce) answer is encoded once per
// request, and reflection over the nested structs cost about 15-25 µs of
// CPU, a fifth of the token's signature (BenchmarkNonceResponse).
// The parts that never change for a signer (responder ID, signature
// algorithm, certs) are encoded once in newSigner. encode_oracle_test.go
// keeps the encoding/asn1 encoder and checks the two agree byte for byte.

// Context-specific tags used below (cryptobyte's asn1.Tag constructors).
var (
	tagExplicit0 = cbasn1.Tag(0).ContextSpecific().Constructed()
	tagExplicit2 = cbasn1.Tag(2).ContextSpecific().Constructed()
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
// truncated to the second. Every length is worked out first, so the
// whole is written into one buffer.
func (e *encoded) encodeTBS(answers []single, produced, thisUpdate, nextUpdate, archiveCutoff time.Time, nonce []byte) ([]byte, error) {
	for _, t := range []time.Time{produced, thisUpdate, nextUpdate, archiveCutoff} {
		if err := checkGeneralized(t); err != nil {
			return nil, err
		}
	}
	unissued := false
	serials := make([][]byte, len(answers))
	responses := 0
	for i := range answers {
		a := &answers[i]
		if a.status != Good && a.status != Revoked {
			return nil, fmt.Errorf("ocsp: status %d", a.status)
		}
		if a.id.Serial == nil || a.id.Serial.Sign() < 0 {
			return nil, fmt.Errorf("ocsp: CertID without a non-negative serial")
		}
		if a.status == Revoked {
			if err := checkGeneralized(a.revokedAt); err != nil {
				return nil, err
			}
		}
		serials[i] = unsignedInteger(a.id.Serial.Bytes())
		responses += tlvLen(singleLen(a, serials[i]))
		unissued = unissued || a.unissued
	}
	exts := 0
	if unissued {
		exts += extRevokeLen
	}
	if nonce != nil {
		exts += tlvLen(len(derNonceOID) + tlvLen(tlvLen(len(nonce))))
	}
	content := len(e.responderID) + timeLen + tlvLen(responses)
	if exts > 0 {
		content += tlvLen(tlvLen(exts))
	}
	b := make([]byte, 0, tlvLen(content))
	b = appendHeader(b, 0x30, content)
	b = append(b, e.responderID...)
	b = appendGeneralized(b, produced)
	b = appendHeader(b, 0x30, responses)
	for i := range answers {
		b = appendSingle(b, &answers[i], serials[i], thisUpdate, nextUpdate, archiveCutoff)
	}
	if exts > 0 {
		b = appendHeader(b, 0xa1, tlvLen(exts))
		b = appendHeader(b, 0x30, exts)
		if unissued {
			b = appendHeader(b, 0x30, len(derExtRevokeOID)+4)
			b = append(b, derExtRevokeOID...)
			b = append(b, 0x04, 0x02, 0x05, 0x00) // extnValue: NULL
		}
		if nonce != nil {
			inner := tlvLen(len(nonce))
			b = appendHeader(b, 0x30, len(derNonceOID)+tlvLen(inner))
			b = append(b, derNonceOID...)
			b = appendHeader(b, 0x04, inner)
			b = appendHeader(b, 0x04, len(nonce))
			b = append(b, nonce...)
		}
	}
	return b, nil
}

// Fixed sizes: a GeneralizedTime YYYYMMDDHHMMSSZ, the singleExtensions
// holding the archive cutoff, the extended-revoke Extension.
const timeLen = 2 + 15

var (
	derArchiveOID   = mustMarshal(oidArchive)
	derExtRevokeOID = mustMarshal(oidExtRevoke)
	// [1] { SEQUENCE { SEQUENCE { OID, OCTET STRING { GeneralizedTime } } } }
	archiveExtsLen = tlvLen(tlvLen(tlvLen(len(derArchiveOID) + tlvLen(timeLen))))
	extRevokeLen   = tlvLen(len(derExtRevokeOID) + 4)
)

func singleLen(a *single, serial []byte) int {
	id := len(hashAlgDER(a.id.Hash)) + tlvLen(len(a.id.NameHash)) + tlvLen(len(a.id.KeyHash)) + tlvLen(len(serial))
	n := tlvLen(id) + timeLen + tlvLen(timeLen) + archiveExtsLen
	if a.status == Good {
		return n + 2
	}
	return n + tlvLen(revokedLen(a))
}

// revokedLen is RevokedInfo's content length. encoding/asn1 left an
// OPTIONAL zero value out, and so the reason unspecified (0), which is
// never given anyway; the encoding stays the same.
func revokedLen(a *single) int {
	if a.reason > 0 {
		return timeLen + tlvLen(tlvLen(len(signedInteger(int64(a.reason)))))
	}
	return timeLen
}

func appendSingle(b []byte, a *single, serial []byte, thisUpdate, nextUpdate, archiveCutoff time.Time) []byte {
	b = appendHeader(b, 0x30, singleLen(a, serial))
	alg := hashAlgDER(a.id.Hash)
	b = appendHeader(b, 0x30, len(alg)+tlvLen(len(a.id.NameHash))+tlvLen(len(a.id.KeyHash))+tlvLen(len(serial)))
	b = append(b, alg...)
	b = appendHeader(b, 0x04, len(a.id.NameHash))
	b = append(b, a.id.NameHash...)
	b = appendHeader(b, 0x04, len(a.id.KeyHash))
	b = append(b, a.id.KeyHash...)
	b = appendHeader(b, 0x02, len(serial))
	b = append(b, serial...)
	if a.status == Good {
		b = append(b, 0x80, 0x00) // [0] IMPLICIT NULL
	} else {
		b = appendHeader(b, 0xa1, revokedLen(a)) // [1] IMPLICIT RevokedInfo
		b = appendGeneralized(b, a.revokedAt)
		if a.reason > 0 {
			r := signedInteger(int64(a.reason))
			b = appendHeader(b, 0xa0, tlvLen(len(r)))
			b = appendHeader(b, 0x0a, len(r))
			b = append(b, r...)
		}
	}
	b = appendGeneralized(b, thisUpdate)
	b = appendHeader(b, 0xa0, timeLen)
	b = appendGeneralized(b, nextUpdate)
	b = appendHeader(b, 0xa1, archiveExtsLen-2)
	b = appendHeader(b, 0x30, archiveExtsLen-4)
	b = appendHeader(b, 0x30, len(derArchiveOID)+tlvLen(timeLen))
	b = append(b, derArchiveOID...)
	b = appendHeader(b, 0x04, timeLen)
	return appendGeneralized(b, archiveCutoff)
}

// assemble wraps the signed ResponseData into a successful OCSPResponse.
func (e *encoded) assemble(tbs, sig []byte) ([]byte, error) {
	basic := len(tbs) + len(e.alg) + tlvLen(1+len(sig)) + len(e.certs)
	rb := len(derBasicOID) + tlvLen(tlvLen(basic))
	content := 3 + tlvLen(tlvLen(rb))
	b := make([]byte, 0, tlvLen(content))
	b = appendHeader(b, 0x30, content)
	b = append(b, 0x0a, 0x01, byte(Successful))
	b = appendHeader(b, 0xa0, tlvLen(rb))
	b = appendHeader(b, 0x30, rb)
	b = append(b, derBasicOID...)
	b = appendHeader(b, 0x04, tlvLen(basic))
	b = appendHeader(b, 0x30, basic)
	b = append(b, tbs...)
	b = append(b, e.alg...)
	b = appendHeader(b, 0x03, 1+len(sig))
	b = append(b, 0) // no unused bits
	b = append(b, sig...)
	return append(b, e.certs...), nil
}

// tlvLen is the encoded size of a value of n content octets (DER
// definite length).
func tlvLen(n int) int {
	switch {
	case n < 0x80:
		return 2 + n
	case n < 0x100:
		return 3 + n
	case n < 0x10000:
		return 4 + n
	case n < 0x1000000:
		return 5 + n
	}
	return 6 + n
}

func appendHeader(b []byte, tag byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, tag, byte(n))
	case n < 0x100:
		return append(b, tag, 0x81, byte(n))
	case n < 0x10000:
		return append(b, tag, 0x82, byte(n>>8), byte(n))
	case n < 0x1000000:
		return append(b, tag, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, tag, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// unsignedInteger is the INTEGER content of the big-endian magnitude mag.
func unsignedInteger(mag []byte) []byte {
	if len(mag) == 0 {
		return []byte{0}
	}
	if mag[0]&0x80 != 0 {
		return append([]byte{0}, mag...)
	}
	return mag
}

// signedInteger is the minimal two's-complement content of v.
func signedInteger(v int64) []byte {
	n := 1
	for i := v; i > 127 || i < -128; i >>= 8 {
		n++
	}
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(v >> (8 * (n - 1 - i)))
	}
	return out
}

func checkGeneralized(t time.Time) error {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("ocsp: %v cannot be a GeneralizedTime", t)
	}
	return nil
}

// appendGeneralized writes t (UTC, to the second) as a GeneralizedTime;
// checkGeneralized has checked its year.
func appendGeneralized(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b = append(b, 0x18, 15)
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10))
	for _, v := range [...]int{int(mo), d, h, mi, s} {
		b = append(b, byte('0'+v/10), byte('0'+v%10))
	}
	return append(b, 'Z')
}

func hashAlgDER(h crypto.Hash) []byte {
	if h == crypto.SHA256 {
		return derSHA256Alg
	}
	return derSHA1Alg
}
