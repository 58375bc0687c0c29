// Package hsm defines what the rest of Muhr needs from a key store: generate or
// find a key by label on a token and get a crypto.Signer for it. Only
// hsm/pkcs11 knows PKCS#11; everything else sees crypto.Signer.
package hsm

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"strings"
)

// KeyAlgorithm names a key type and size the center may generate.
type KeyAlgorithm string

const (
	ECDSAP256 KeyAlgorithm = "ecdsa-p256"
	ECDSAP384 KeyAlgorithm = "ecdsa-p384"
	RSA2048   KeyAlgorithm = "rsa-2048"
	RSA3072   KeyAlgorithm = "rsa-3072"
	RSA4096   KeyAlgorithm = "rsa-4096"
)

// Algorithms lists every supported KeyAlgorithm.
var Algorithms = []KeyAlgorithm{ECDSAP256, ECDSAP384, RSA2048, RSA3072, RSA4096}

// ParseKeyAlgorithm accepts the names above (case-insensitive).
func ParseKeyAlgorithm(s string) (KeyAlgorithm, error) {
	for _, a := range Algorithms {
		if strings.EqualFold(s, string(a)) {
			return a, nil
		}
	}
	names := make([]string, len(Algorithms))
	for i, a := range Algorithms {
		names[i] = string(a)
	}
	return "", fmt.Errorf("unknown key algorithm %q (want one of %s)", s, strings.Join(names, ", "))
}

// KeyInfo describes a private key on the token as PKCS#11 reports it.
type KeyInfo struct {
	Label            string
	ID               []byte
	Algorithm        KeyAlgorithm
	Sensitive        bool
	Extractable      bool
	AlwaysSensitive  bool
	NeverExtractable bool
	Public           crypto.PublicKey
}

// KeyStore is the seam between the HSM and everything that signs.
type KeyStore interface {
	// Generate makes a new non-extractable key pair on the token under label.
	// It fails with ErrKeyExists if the label is taken.
	Generate(ctx context.Context, label string, alg KeyAlgorithm) (crypto.Signer, error)
	// Signer finds the key pair labelled label. ErrKeyNotFound if absent.
	Signer(ctx context.Context, label string) (crypto.Signer, error)
	// Keys lists the private keys on the token.
	Keys(ctx context.Context) ([]KeyInfo, error)
	// Health reports nil when the token is logged in and present. It is
	// safe under any number of concurrent callers and cheap to call often.
	Health(ctx context.Context) error
	// ProbeKey reports nil when the key labelled label can sign now (a
	// rate-limited signature of a fixed digest, verified). Safe to call as
	// often as Health.
	ProbeKey(ctx context.Context, label string) error
}

// ContextSigner is a crypto.Signer whose signature can be bounded by a
// context: waiting for the token (a free session, a re-login) ends when ctx
// does. The signers of hsm/pkcs11 implement it.
type ContextSigner interface {
	crypto.Signer
	SignContext(ctx context.Context, rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

// Errors callers branch on.
var (
	ErrKeyNotFound    = newError("not_found", "hsm: key not found")
	ErrKeyExists      = newError("conflict", "hsm: key label already exists")
	ErrPINIncorrect   = newError("forbidden", "hsm: PIN refused by the token")
	ErrTokenNotFound  = newError("unavailable", "hsm: token not found")
	ErrModule         = newError("unavailable", "hsm: cannot load PKCS#11 module")
	ErrKeyExtractable = newError("forbidden", "hsm: key is not always-sensitive and never-extractable")
	ErrUnavailable    = newError("unavailable", "hsm: token unavailable")
)
