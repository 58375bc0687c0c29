package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// The CRL's DER, written by hand so a CRL of any size is made one entry at a
// time (x509.CreateRevocationList wants every entry as a Go value at once:
// a big.Int, a time and a slice of extensions each). Entries are encoded
// into one buffer as they are read; the TBSCertList is then the fixed
// header, the entries' SEQUENCE header (its length known by then), the
// buffer and the extensions, hashed part by part and copied once into the
// signed CRL. Memory is the CRL's own size (about 40 bytes an entry), which
// the store keeps as one value anyway.

// OIDs of the CRL and CRL entry extensions we write (RFC 5280 §5.2, §5.3;
// X.509 §9.6.2.6 for expiredCertsOnCRL).
var (
	oidExtAKI               = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidExtCRLNumber         = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidExtReasonCode        = asn1.ObjectIdentifier{2, 5, 29, 21}
	oidExtInvalidityDate    = asn1.ObjectIdentifier{2, 5, 29, 24}
	oidExtExpiredCertsOnCRL = asn1.ObjectIdentifier{2, 5, 29, 60}
)

// CRL reason codes the writer treats specially.
const (
	reasonUnspecified     = 0
	reasonRemoveFromCRL   = 8
	reasonCertificateHold = 6
)

// crlSigAlg is how a CA key signs: the AlgorithmIdentifier's DER and the hash.
type crlSigAlg struct {
	algID []byte
	hash  crypto.Hash
}

var (
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
)

// sigAlgFor picks the signature algorithm for the CA's public key: ECDSA
// with the hash its curve calls for (P-384: SHA-384), RSA with SHA-256
// (PKCS #1 v1.5, parameters NULL as RFC 4055 requires).
func sigAlgFor(pub crypto.PublicKey) (crlSigAlg, error) {
	var ai pkix.AlgorithmIdentifier
	var h crypto.Hash
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			ai.Algorithm, h = oidECDSAWithSHA256, crypto.SHA256
		case elliptic.P384():
			ai.Algorithm, h = oidECDSAWithSHA384, crypto.SHA384
		case elliptic.P521():
			ai.Algorithm, h = oidECDSAWithSHA512, crypto.SHA512
		default:
			return crlSigAlg{}, fmt.Errorf("CRL: unsupported ECDSA curve %s", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		ai = pkix.AlgorithmIdentifier{Algorithm: oidSHA256WithRSA, Parameters: asn1.NullRawValue}
		h = crypto.SHA256
	default:
		return crlSigAlg{}, fmt.Errorf("CRL: unsupported CA key type %T", pub)
	}
	der, err := asn1.Marshal(ai)
	if err != nil {
		return crlSigAlg{}, fmt.Errorf("CRL: signature algorithm: %w", err)
	}
	return crlSigAlg{algID: der, hash: h}, nil
}

// crlEntry is one revokedCertificates element as it goes on the wire.
type crlEntry struct {
	Serial         *big.Int
	RevocationTime time.Time
	Extensions     []pkix.Extension `asn1:"optional"`
}

// entryInput is what one entry is made from.
type entryInput struct {
	serial         *big.Int
	revokedAt      time.Time
	reason         int // 0 (unspecified) writes no reasonCode
	invalidityDate *time.Time
}

// appendEntry encodes one entry onto buf. revocationDate and
// invalidityDate are in UTC to the second; unspecified has no reasonCode
// (RFC 5280 §5.3.1); removeFromCRL belongs to delta CRLs only.
func appendEntry(buf []byte, in entryInput, thisUpdate time.Time) ([]byte, error) {
	if in.serial == nil || in.serial.Sign() <= 0 || in.serial.BitLen() > 159 {
		return buf, fmt.Errorf("CRL entry: serial %v must be positive and below 2^159", in.serial)
	}
	at := in.revokedAt.UTC().Truncate(time.Second)
	if at.IsZero() || at.After(thisUpdate) {
		return buf, fmt.Errorf("CRL entry %x: revocation time %s is not set or after thisUpdate %s",
			in.serial, at.Format(time.RFC3339), thisUpdate.Format(time.RFC3339))
	}
	e := crlEntry{Serial: in.serial, RevocationTime: at}
	switch {
	case in.reason == reasonUnspecified:
	case in.reason == reasonRemoveFromCRL || in.reason < 0 || in.reason > 10 || in.reason == 7:
		return buf, fmt.Errorf("CRL entry %x: reason code %d is not allowed on a full CRL", in.serial, in.reason)
	default:
		v, err := asn1.Marshal(asn1.Enumerated(in.reason))
		if err != nil {
			return buf, err
		}
		e.Extensions = append(e.Extensions, pkix.Extension{Id: oidExtReasonCode, Value: v})
	}
	if in.invalidityDate != nil {
		v, err := asn1.MarshalWithParams(in.invalidityDate.UTC().Truncate(time.Second), "generalized")
		if err != nil {
			return buf, err
		}
		e.Extensions = append(e.Extensions, pkix.Extension{Id: oidExtInvalidityDate, Value: v})
	}
	der, err := asn1.Marshal(e)
	if err != nil {
		return buf, fmt.Errorf("CRL entry %x: %w", in.serial, err)
	}
	return append(buf, der...), nil
}

// crlHeader is the TBSCertList up to and without revokedCertificates.
type crlHeader struct {
	Version    int
	Signature  asn1.RawValue
	Issuer     asn1.RawValue
	ThisUpdate time.Time
	NextUpdate time.Time
}

// tbsParts are the TBSCertList's pieces in order; the entries are not
// copied into it.
type tbsParts struct {
	outer, header, revokedHdr, entries, exts []byte
}

func (p tbsParts) len() int {
	return len(p.outer) + len(p.header) + len(p.revokedHdr) + len(p.entries) + len(p.exts)
}

func (p tbsParts) each(f func([]byte)) {
	for _, b := range [][]byte{p.outer, p.header, p.revokedHdr, p.entries, p.exts} {
		f(b)
	}
}

// crlExtensions are the CRL's own extensions, none critical.
func crlExtensions(number *big.Int, ski []byte, expiredSince *time.Time) ([]byte, error) {
	if len(ski) == 0 {
		return nil, errors.New("CRL: the CA certificate has no subjectKeyIdentifier for the AKI")
	}
	aki, err := asn1.Marshal(struct {
		ID []byte `asn1:"optional,tag:0"`
	}{ski})
	if err != nil {
		return nil, err
	}
	num, err := asn1.Marshal(number)
	if err != nil {
		return nil, err
	}
	exts := []pkix.Extension{{Id: oidExtAKI, Value: aki}, {Id: oidExtCRLNumber, Value: num}}
	if expiredSince != nil {
		v, err := asn1.MarshalWithParams(expiredSince.UTC().Truncate(time.Second), "generalized")
		if err != nil {
			return nil, err
		}
		exts = append(exts, pkix.Extension{Id: oidExtExpiredCertsOnCRL, Value: v})
	}
	seq, err := asn1.Marshal(exts)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: seq})
}

// buildTBS lays out the TBSCertList around the encoded entries.
func buildTBS(alg crlSigAlg, issuer []byte, this, next time.Time, entries, exts []byte) (tbsParts, error) {
	hdr, err := asn1.Marshal(crlHeader{Version: 1, Signature: asn1.RawValue{FullBytes: alg.algID},
		Issuer: asn1.RawValue{FullBytes: issuer}, ThisUpdate: this, NextUpdate: next})
	if err != nil {
		return tbsParts{}, fmt.Errorf("CRL: header: %w", err)
	}
	// Marshal wrote SEQUENCE{...} around the header fields: keep the fields
	// only, they are the TBS's first elements.
	var raw asn1.RawValue
	if _, err := asn1.Unmarshal(hdr, &raw); err != nil {
		return tbsParts{}, err
	}
	p := tbsParts{header: raw.Bytes, entries: entries, exts: exts}
	if len(entries) > 0 { // an empty list is left out (RFC 5280 §5.1.2.6)
		p.revokedHdr = derHeader(0x30, len(entries))
	}
	p.outer = derHeader(0x30, len(p.header)+len(p.revokedHdr)+len(p.entries)+len(p.exts))
	return p, nil
}

// derHeader is a DER tag and definite length.
func derHeader(tag byte, n int) []byte {
	if n < 0x80 {
		return []byte{tag, byte(n)}
	}
	var l []byte
	for v := n; v > 0; v >>= 8 {
		l = append([]byte{byte(v)}, l...)
	}
	return append([]byte{tag, 0x80 | byte(len(l))}, l...)
}

// assembleCRL writes CertificateList ::= SEQUENCE { tbs, algorithm, BIT
// STRING signature } into one buffer of its exact size.
func assembleCRL(p tbsParts, alg crlSigAlg, sig []byte) []byte {
	bits := derHeader(0x03, len(sig)+1)
	body := p.len() + len(alg.algID) + len(bits) + 1 + len(sig)
	out := make([]byte, 0, body+6)
	out = append(out, derHeader(0x30, body)...)
	p.each(func(b []byte) { out = append(out, b...) })
	out = append(out, alg.algID...)
	out = append(out, bits...)
	out = append(out, 0)
	return append(out, sig...)
}
