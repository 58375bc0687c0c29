package csr

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
)

// Options tunes Check. The zero value is usable.
type Options struct {
	// ForbiddenKeys maps the SPKIHash of every key a subscriber may never
	// certify (the center's own CA, OCSP and TSU keys) to a label used in
	// the error message. Keys already certified for another subscriber are
	// the caller's lookup, by Checked.SPKIHash.
	ForbiddenKeys map[[sha256.Size]byte]string
	// FermatRounds bounds the Fermat factorisation attempt; 0 means
	// DefaultFermatRounds.
	FermatRounds int
}

// Checked is a CSR that passed every check: a key the center accepts whose
// possession the CSR proves.
type Checked struct {
	PublicKey crypto.PublicKey
	// SPKI is the DER SubjectPublicKeyInfo, in the canonical form Go
	// marshals it (the CSR's own encoding is required to be identical),
	// so it equals RawSubjectPublicKeyInfo of any certificate for the key.
	SPKI []byte
	// SPKIHash is SHA-256 of SPKI, for "key already certified" and "CA
	// key" lookups.
	SPKIHash [sha256.Size]byte
	// Key describes the key for logs and messages: "RSA-2048", "ECDSA P-256".
	Key                string
	SignatureAlgorithm x509.SignatureAlgorithm

	// The fields below are for the audit log only. The issuer never copies
	// them into a certificate: subject and extensions come from the
	// registered identity and the profile.

	// RequestedSubject is the subject the CSR asked for, as a string.
	RequestedSubject string
	// IgnoredExtensions are the extensions the CSR requested (CA:TRUE,
	// SANs, EKUs...), in order.
	IgnoredExtensions []asn1.ObjectIdentifier
	// IgnoredAttributes are the CSR attributes other than extensionRequest
	// (challengePassword, unstructuredName...).
	IgnoredAttributes []asn1.ObjectIdentifier
}

// Intake parses data (PEM or DER) and checks it: Parse then Check.
func Intake(data []byte, opts Options) (*Checked, error) {
	req, lay, err := parse(data)
	if err != nil {
		return nil, err
	}
	return check(req, lay, opts)
}

// Check decides whether req may be certified. req must come from
// x509.ParseCertificateRequest (or Parse) unmodified: Check re-validates
// req.Raw strictly, so a request parsed by crypto/x509 directly gets the
// same DER checks as one from Parse, and refuses a request whose parsed
// fields disagree with its raw bytes.
//
// In order: the key type and size (before any arithmetic on the key, so a
// huge key costs nothing); the signature algorithm; the signature
// (proof of possession); the factoring checks on RSA moduli; the CA keys.
func Check(req *x509.CertificateRequest, opts Options) (*Checked, error) {
	if req == nil || len(req.Raw) == 0 {
		return nil, fmt.Errorf("%w: no request (req.Raw is empty)", ErrMalformed)
	}
	lay, err := inspect(req.Raw)
	if err != nil {
		return nil, err
	}
	return check(req, lay, opts)
}

func check(req *x509.CertificateRequest, lay *layout, opts Options) (*Checked, error) {
	if !bytes.Equal(lay.info, req.RawTBSCertificateRequest) || !bytes.Equal(lay.spki, req.RawSubjectPublicKeyInfo) {
		return nil, fmt.Errorf("%w: parsed request does not match its raw bytes", ErrMalformed)
	}
	// The key first: an Ed25519 CSR should hear that the key type is not
	// accepted rather than that its (inevitable) algorithm is not.
	desc, err := checkKey(req.PublicKey)
	if err != nil {
		return nil, err
	}
	// RSA-PSS is verified here: crypto/x509 calls PSS with the salt
	// OpenSSL uses by default an unknown algorithm.
	sigAlg := req.SignatureAlgorithm
	var pss *pssParams
	if isPSS(lay.sigAlg) {
		p, err := parsePSS(lay.sigAlg)
		if err != nil {
			return nil, err
		}
		pss = &p
	} else if err := checkSignatureAlgorithm(req.SignatureAlgorithm); err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(req.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyType, err)
	}
	if !bytes.Equal(spki, req.RawSubjectPublicKeyInfo) {
		return nil, fmt.Errorf("%w: the public key is not in its canonical DER form", ErrMalformed)
	}
	if pss != nil {
		if sigAlg, err = checkPSS(req, *pss, lay.sig); err != nil {
			return nil, err
		}
	} else if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: the CSR's signature does not verify with its own public key, so it does not prove possession of the key: the CSR was altered or signed with another key; create it again with the private key (%w)", ErrBadSignature, err)
	}
	if pub, ok := req.PublicKey.(*rsa.PublicKey); ok {
		rounds := opts.FermatRounds
		if rounds <= 0 {
			rounds = DefaultFermatRounds
		}
		if err := checkRSAMath(pub.N, rounds); err != nil {
			return nil, err
		}
	}
	hash := sha256.Sum256(spki)
	if label, ok := opts.ForbiddenKeys[hash]; ok {
		return nil, fmt.Errorf("%w: the public key is the key of %s; a subscriber needs a key of its own: generate a new one", ErrKeyIsCAKey, label)
	}
	c := &Checked{
		PublicKey:          req.PublicKey,
		SPKI:               spki,
		SPKIHash:           hash,
		Key:                desc,
		SignatureAlgorithm: sigAlg,
		RequestedSubject:   req.Subject.String(),
		IgnoredAttributes:  lay.attributes,
	}
	for _, e := range req.Extensions {
		c.IgnoredExtensions = append(c.IgnoredExtensions, e.Id)
	}
	return c, nil
}

// SPKIHash returns SHA-256 of pub's canonical SubjectPublicKeyInfo, the
// value Checked.SPKIHash holds; use it to fill Options.ForbiddenKeys.
func SPKIHash(pub crypto.PublicKey) ([sha256.Size]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("csr: SPKI hash: %w", err)
	}
	return sha256.Sum256(spki), nil
}

// checkSignatureAlgorithm allows SHA-2 with RSA PKCS#1 v1.5 and ECDSA
// (RSA-PSS is judged by parsePSS). SHA-1 and MD5 are refused because a chosen-prefix collision lets
// a CSR's signature be reused; Ed25519 and DSA because their keys are.
func checkSignatureAlgorithm(alg x509.SignatureAlgorithm) error {
	switch alg {
	case x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
		x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS,
		x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512:
		return nil
	case x509.UnknownSignatureAlgorithm:
		return fmt.Errorf("%w: unknown signature algorithm; sign the CSR with SHA-256, SHA-384 or SHA-512 (RSA, RSA-PSS or ECDSA)", ErrWeakSignatureAlgorithm)
	default:
		return fmt.Errorf("%w: the CSR is signed with %v; sign it with SHA-256, SHA-384 or SHA-512 (RSA, RSA-PSS or ECDSA) instead", ErrWeakSignatureAlgorithm, alg)
	}
}

// checkKey applies the key policy that needs no factoring: type, curve,
// size and exponent. It returns a description of the key.
func checkKey(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return checkRSAKey(k)
	case *ecdsa.PublicKey:
		var name string
		switch k.Curve {
		case elliptic.P256():
			name = "P-256"
		case elliptic.P384():
			name = "P-384"
		default:
			return "", fmt.Errorf("%w: ECDSA curve %s is not accepted; use P-256 or P-384", ErrKeyType, k.Curve.Params().Name)
		}
		// crypto/x509 already checked the point; this guards a request
		// built in memory, and is cheap.
		if _, err := k.ECDH(); err != nil {
			return "", fmt.Errorf("%w: the EC public point is not on curve %s; generate a new key", ErrInvalidKey, name)
		}
		return "ECDSA " + name, nil
	case ed25519.PublicKey:
		return "", fmt.Errorf("%w: Ed25519 keys are not accepted for qualified certificates; use ECDSA P-256 or P-384, or RSA 2048-4096", ErrKeyType)
	case nil:
		return "", fmt.Errorf("%w: unknown public key algorithm; use ECDSA P-256 or P-384, or RSA 2048-4096", ErrKeyType)
	default:
		return "", fmt.Errorf("%w: %T keys are not accepted; use ECDSA P-256 or P-384, or RSA 2048-4096", ErrKeyType, pub)
	}
}

func checkRSAKey(k *rsa.PublicKey) (string, error) {
	if k.N == nil || k.N.Sign() <= 0 {
		return "", fmt.Errorf("%w: RSA modulus is not positive", ErrInvalidKey)
	}
	bits := k.N.BitLen()
	switch {
	case bits < 2048:
		return "", fmt.Errorf("%w: the RSA key is %d bits; generate a 2048-, 3072- or 4096-bit key", ErrWeakKey, bits)
	case bits > 4096:
		return "", fmt.Errorf("%w: the RSA key is %d bits; at most 4096 bits are accepted", ErrKeyType, bits)
	case bits%8 != 0:
		// Some clients mishandle such moduli (CA/B BR §6.1.5).
		return "", fmt.Errorf("%w: the RSA modulus is %d bits, not a multiple of 8; generate a 2048-, 3072- or 4096-bit key", ErrKeyType, bits)
	case k.E != 65537:
		return "", fmt.Errorf("%w: the RSA public exponent is %d; only 65537 is accepted, generate the key with the default exponent", ErrWeakKey, k.E)
	case k.N.Bit(0) == 0:
		return "", fmt.Errorf("%w: the RSA modulus is even, so the key is broken; generate a new key", ErrWeakKey)
	}
	return fmt.Sprintf("RSA-%d", bits), nil
}
