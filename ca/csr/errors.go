package csr

import "github.com/muhr-pki/muhr/errkind"

// Error kinds. Each refusal wraps exactly one of them with a message saying
// what is wrong and how to fix it.
var (
	// ErrMalformed: the input is not one strictly DER-encoded PKCS#10 CSR
	// (bad PEM, truncated, trailing data, BER encodings, wrong version...).
	ErrMalformed = errkind.New(errkind.Invalid, "csr: malformed request")
	// ErrBadSignature: the CSR's signature does not verify with its own
	// public key, so it proves nothing about possession of the key.
	ErrBadSignature = errkind.New(errkind.Invalid, "csr: signature does not verify")
	// ErrWeakSignatureAlgorithm: the CSR is signed with an algorithm other
	// than SHA-256/384/512 with RSA PKCS#1 v1.5, RSA-PSS or ECDSA.
	ErrWeakSignatureAlgorithm = errkind.New(errkind.Invalid, "csr: signature algorithm not accepted")
	// ErrKeyType: a key algorithm, curve or size the center does not issue
	// for (Ed25519, P-224, P-521, RSA above 4096 or not a multiple of 8 bits).
	ErrKeyType = errkind.New(errkind.Invalid, "csr: key type not accepted")
	// ErrWeakKey: an RSA key that is too short, has an exponent other than
	// 65537, or can be factored (small factors, close primes, ROCA).
	ErrWeakKey = errkind.New(errkind.Invalid, "csr: weak key")
	// ErrInvalidKey: the public key is not a valid key at all (an EC point
	// off its curve, a compressed or infinite point).
	ErrInvalidKey = errkind.New(errkind.Invalid, "csr: invalid public key")
	// ErrKeyIsCAKey: the key is one of the center's own CA keys.
	ErrKeyIsCAKey = errkind.New(errkind.Invalid, "csr: key is a CA key")
)
