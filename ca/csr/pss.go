package csr

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	oidRSASSAPSS = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidSHA256    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

// pssParams are the RSASSA-PSS parameters of a CSR's signature.
type pssParams struct {
	hash crypto.Hash
	salt int
}

// isPSS reports whether the signature AlgorithmIdentifier is id-RSASSA-PSS.
func isPSS(alg []byte) bool {
	s := cryptobyte.String(alg)
	var seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	return s.ReadASN1(&seq, cbasn1.SEQUENCE) && seq.ReadASN1ObjectIdentifier(&oid) && oid.Equal(oidRSASSAPSS)
}

// parsePSS reads RSASSA-PSS-params (RFC 4055 §3.1) strictly:
//
//	RSASSA-PSS-params ::= SEQUENCE {
//	  hashAlgorithm    [0] HashAlgorithm    DEFAULT sha1,
//	  maskGenAlgorithm [1] MaskGenAlgorithm DEFAULT mgf1SHA1,
//	  saltLength       [2] INTEGER          DEFAULT 20,
//	  trailerField     [3] TrailerField     DEFAULT trailerFieldBC }
//
// The hash must be SHA-256, -384 or -512, MGF1 with that same hash, the
// trailer field 1 (0xBC). crypto/x509 knows PSS only with a salt as long
// as the hash and calls the rest "unknown"; OpenSSL 3.0 signs with the
// longest salt the key allows, so both are accepted (see checkPSSSalt).
func parsePSS(alg []byte) (pssParams, error) {
	bad := func(format string, args ...any) (pssParams, error) {
		return pssParams{}, fmt.Errorf("%w: RSA-PSS "+format+"; sign with SHA-256, SHA-384 or SHA-512 and MGF1 with the same hash (openssl req -sigopt rsa_padding_mode:pss -sha256)",
			append([]any{ErrWeakSignatureAlgorithm}, args...)...)
	}
	malformed := func(what string) (pssParams, error) {
		return pssParams{}, fmt.Errorf("%w: RSA-PSS parameters: %s", ErrMalformed, what)
	}
	s := cryptobyte.String(alg)
	var seq, params cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&oid) {
		return malformed("not an AlgorithmIdentifier")
	}
	if seq.Empty() {
		return bad("parameters absent (that means SHA-1)")
	}
	if !seq.ReadASN1(&params, cbasn1.SEQUENCE) || !seq.Empty() {
		return malformed("not a SEQUENCE")
	}
	var p pssParams
	var hashOID asn1.ObjectIdentifier
	var f cryptobyte.String
	var present bool

	// [0] hashAlgorithm; absent is the SHA-1 default.
	if !params.ReadOptionalASN1(&f, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return malformed("hashAlgorithm")
	}
	if !present {
		return bad("with the default hash SHA-1")
	}
	h, ho, err := readHashAlg(f)
	if err != nil {
		return malformed("hashAlgorithm: " + err.Error())
	}
	hashOID = ho
	if h == 0 {
		return bad("with hash %v", ho)
	}
	p.hash = h

	// [1] maskGenAlgorithm: MGF1 with the same hash.
	if !params.ReadOptionalASN1(&f, &present, cbasn1.Tag(1).Constructed().ContextSpecific()) {
		return malformed("maskGenAlgorithm")
	}
	if !present {
		return bad("with the default mask generation MGF1-SHA-1")
	}
	var mgf, mgfParams cryptobyte.String
	var mgfOID asn1.ObjectIdentifier
	if !f.ReadASN1(&mgf, cbasn1.SEQUENCE) || !f.Empty() || !mgf.ReadASN1ObjectIdentifier(&mgfOID) {
		return malformed("maskGenAlgorithm is not an AlgorithmIdentifier")
	}
	if !mgfOID.Equal(oidMGF1) {
		return bad("with mask generation function %v (only MGF1 is accepted)", mgfOID)
	}
	if !mgf.ReadASN1Element(&mgfParams, cbasn1.SEQUENCE) || !mgf.Empty() {
		return malformed("MGF1 without its hash")
	}
	_, mgfHash, err := readHashAlg(mgfParams)
	if err != nil {
		return malformed("MGF1 hash: " + err.Error())
	}
	if !mgfHash.Equal(hashOID) {
		return bad("with MGF1 hash %v but message hash %v: they must be the same", mgfHash, hashOID)
	}

	// [2] saltLength; the default 20 never matches a SHA-2 hash.
	if !params.ReadOptionalASN1(&f, &present, cbasn1.Tag(2).Constructed().ContextSpecific()) {
		return malformed("saltLength")
	}
	if !present {
		return bad("with the default salt length 20")
	}
	var salt int64
	if !f.ReadASN1Int64WithTag(&salt, cbasn1.INTEGER) || !f.Empty() || salt < 0 || salt > MaxSize {
		return malformed("saltLength is not a small non-negative INTEGER")
	}
	p.salt = int(salt)

	// [3] trailerField: must be 1, and DER leaves a DEFAULT value out.
	if !params.ReadOptionalASN1(&f, &present, cbasn1.Tag(3).Constructed().ContextSpecific()) {
		return malformed("trailerField")
	}
	if present {
		var tf int64
		if !f.ReadASN1Int64WithTag(&tf, cbasn1.INTEGER) || !f.Empty() {
			return malformed("trailerField is not an INTEGER")
		}
		if tf != 1 {
			return bad("with trailer field %d (only 1, 0xBC, is defined)", tf)
		}
		return malformed("trailerField 1 is the DEFAULT and DER leaves it out")
	}
	if !params.Empty() {
		return malformed("trailing data after trailerField")
	}
	return p, nil
}

// readHashAlg reads an AlgorithmIdentifier of a hash whose parameters are
// absent or NULL (RFC 4055 §2.1 asks to accept both) and returns the hash
// if it is one we accept (0 otherwise) and its OID.
func readHashAlg(s cryptobyte.String) (crypto.Hash, asn1.ObjectIdentifier, error) {
	var seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() || !seq.ReadASN1ObjectIdentifier(&oid) {
		return 0, nil, fmt.Errorf("not an AlgorithmIdentifier")
	}
	if !seq.Empty() {
		var null cryptobyte.String
		if !seq.ReadASN1(&null, cbasn1.NULL) || !null.Empty() || !seq.Empty() {
			return 0, nil, fmt.Errorf("parameters of %v are neither absent nor NULL", oid)
		}
	}
	switch {
	case oid.Equal(oidSHA256):
		return crypto.SHA256, oid, nil
	case oid.Equal(oidSHA384):
		return crypto.SHA384, oid, nil
	case oid.Equal(oidSHA512):
		return crypto.SHA512, oid, nil
	}
	return 0, oid, nil
}

// checkPSS verifies a CSR's RSA-PSS signature: proof of possession, as
// CheckSignature does for the other algorithms. The salt must be as long
// as the hash (RFC 8017 §9.1 recommends it; Go, BoringSSL, Java) or the
// longest the key allows (OpenSSL's default: emLen − hLen − 2).
func checkPSS(req *x509.CertificateRequest, p pssParams, sig []byte) (x509.SignatureAlgorithm, error) {
	pub, ok := req.PublicKey.(*rsa.PublicKey)
	if !ok {
		return 0, fmt.Errorf("%w: an RSA-PSS signature needs an RSA key, the CSR holds %T", ErrBadSignature, req.PublicKey)
	}
	hLen := p.hash.Size()
	maxSalt := (pub.N.BitLen()-1+7)/8 - hLen - 2
	if p.salt != hLen && p.salt != maxSalt {
		return 0, fmt.Errorf("%w: RSA-PSS salt of %d bytes; use %d (the hash length) or %d (the maximum for this key)",
			ErrWeakSignatureAlgorithm, p.salt, hLen, maxSalt)
	}
	h := p.hash.New()
	h.Write(req.RawTBSCertificateRequest)
	if err := rsa.VerifyPSS(pub, p.hash, h.Sum(nil), sig, &rsa.PSSOptions{SaltLength: p.salt, Hash: p.hash}); err != nil {
		return 0, fmt.Errorf("%w: the CSR's RSA-PSS signature does not verify with its own public key, so it does not prove possession of the key: the CSR was altered or signed with another key; create it again with the private key (%w)", ErrBadSignature, err)
	}
	switch p.hash {
	case crypto.SHA384:
		return x509.SHA384WithRSAPSS, nil
	case crypto.SHA512:
		return x509.SHA512WithRSAPSS, nil
	}
	return x509.SHA256WithRSAPSS, nil
}
