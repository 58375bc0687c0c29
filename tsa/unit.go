package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/store"
)

// Unit is a TSA unit: the key that signs tokens, its certificate and the
// intermediates a token with certReq carries (never the root).
type Unit struct {
	Signer crypto.Signer
	Cert   *x509.Certificate
	Chain  []*x509.Certificate // issuer first, up to but excluding the self-signed root
	CAID   string              // the CA that issued Cert (the ledger's signer reference)
	Serial *big.Int
	// Digest is the hash the SignedData signature uses, matched to the key.
	Digest crypto.Hash
}

// UnitSource is what LoadUnit reads; store.Store satisfies it.
type UnitSource interface {
	LatestSigner(ctx context.Context, role, caID string) (store.Signer, error)
	GetCA(ctx context.Context, id string) (store.CA, error)
}

// KeyFinder hands out the signer for a key label; hsm.KeyStore satisfies it.
type KeyFinder interface {
	Signer(ctx context.Context, label string) (crypto.Signer, error)
}

var oidTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
var oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}

// ErrUnit means the TSA unit's certificate or key cannot sign tokens.
var ErrUnit = errkind.New(errkind.Unavailable, "tsa: unusable TSA unit")

// LoadUnit finds the TSA unit issued by caID (the one whose certificate
// expires last), its key on the token and its CA chain, and checks that
// they fit together and may sign time-stamps at now.
func LoadUnit(ctx context.Context, src UnitSource, keys KeyFinder, caID string, now time.Time) (*Unit, error) {
	sg, err := src.LatestSigner(ctx, store.SignerRoleTSA, caID)
	if err != nil {
		return nil, fmt.Errorf("tsa: TSA unit under CA %s: %w", caID, err)
	}
	cert, err := x509.ParseCertificate(sg.CertDER)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %w", ErrUnit, err)
	}
	key, err := keys.Signer(ctx, sg.KeyLabel)
	if err != nil {
		return nil, fmt.Errorf("tsa: TSA unit key %q: %w", sg.KeyLabel, err)
	}
	chain, err := caChain(ctx, src, caID)
	if err != nil {
		return nil, err
	}
	u := &Unit{Signer: key, Cert: cert, Chain: chain, CAID: caID, Serial: sg.Serial}
	if err := u.check(now); err != nil {
		return nil, err
	}
	return u, nil
}

// caChain walks from the CA up to the root and returns the CA certificates
// without the self-signed root.
func caChain(ctx context.Context, src interface {
	GetCA(ctx context.Context, id string) (store.CA, error)
}, caID string) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for id, depth := caID, 0; id != ""; depth++ {
		if depth > 8 {
			return nil, fmt.Errorf("%w: CA chain above %s is too long", ErrUnit, caID)
		}
		ca, err := src.GetCA(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("tsa: CA %s: %w", id, err)
		}
		c, err := x509.ParseCertificate(ca.CertDER)
		if err != nil {
			return nil, fmt.Errorf("%w: CA %s certificate: %w", ErrUnit, id, err)
		}
		if ca.ParentID == "" || bytes.Equal(c.RawIssuer, c.RawSubject) {
			break
		}
		chain = append(chain, c)
		id = ca.ParentID
	}
	return chain, nil
}

// check refuses a unit that RFC 3161 and ETSI EN 319 422 do not allow to
// sign: the key must match, the only EKU must be a critical timeStamping,
// the certificate must be valid now and chain to the first intermediate.
func (u *Unit) check(now time.Time) error {
	if !publicKeysEqual(u.Signer.Public(), u.Cert.PublicKey) {
		return fmt.Errorf("%w: the key on the token does not match the certificate", ErrUnit)
	}
	critical := false
	for _, e := range u.Cert.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			critical = e.Critical
		}
	}
	if !critical || len(u.Cert.ExtKeyUsage) != 1 || u.Cert.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping ||
		len(u.Cert.UnknownExtKeyUsage) != 0 {
		return fmt.Errorf("%w: certificate must have timeStamping (%s) as its only, critical, EKU", ErrUnit, oidTimeStamping)
	}
	if now.Before(u.Cert.NotBefore) || now.After(u.Cert.NotAfter) {
		return fmt.Errorf("%w: certificate valid %s to %s, not at %s", ErrUnit,
			u.Cert.NotBefore.Format(time.RFC3339), u.Cert.NotAfter.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if len(u.Chain) > 0 {
		if err := u.Cert.CheckSignatureFrom(u.Chain[0]); err != nil {
			return fmt.Errorf("%w: certificate not signed by CA %s: %w", ErrUnit, u.CAID, err)
		}
	}
	d, err := digestFor(u.Signer.Public())
	if err != nil {
		return err
	}
	u.Digest = d
	return nil
}

// digestFor picks the SignedData digest that matches the key's strength.
func digestFor(pub crypto.PublicKey) (crypto.Hash, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return crypto.SHA256, nil
		case elliptic.P384():
			return crypto.SHA384, nil
		case elliptic.P521():
			return crypto.SHA512, nil
		}
	case *rsa.PublicKey:
		return crypto.SHA256, nil
	}
	return 0, fmt.Errorf("%w: unsupported key type %T", ErrUnit, pub)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

// acceptsPolicy reports whether the unit's certificate lists the policy.
func (u *Unit) acceptsPolicy(p asn1.ObjectIdentifier) bool {
	for _, cp := range u.Cert.PolicyIdentifiers {
		if cp.Equal(p) {
			return true
		}
	}
	return false
}

// ChainSource is what LedgerTokenWithChain reads; store.Reader satisfies it.
type ChainSource interface {
	GetCertificate(ctx context.Context, issuerID string, serial *big.Int) (store.Certificate, error)
	GetCA(ctx context.Context, id string) (store.CA, error)
}

// LedgerTokenWithChain puts back the certificates a ledger row leaves out:
// the TSA unit's certificate (from the row's signer reference) and its CA
// chain up to but excluding the root, as a token with certReq carried them.
func LedgerTokenWithChain(ctx context.Context, src ChainSource, tk store.TSAToken) ([]byte, error) {
	c, err := src.GetCertificate(ctx, tk.SignerCAID, tk.SignerSerial)
	if err != nil {
		return nil, fmt.Errorf("tsa: TSA unit certificate %s/%X: %w", tk.SignerCAID, tk.SignerSerial, err)
	}
	cert, err := x509.ParseCertificate(c.DER)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %w", ErrUnit, err)
	}
	chain, err := caChain(ctx, src, tk.SignerCAID)
	if err != nil {
		return nil, err
	}
	return WithCertificates(tk.TokenDER, append([]*x509.Certificate{cert}, chain...))
}
