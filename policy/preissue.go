package policy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
)

// PreIssue signs tmpl as parent would, but with a throwaway key of the
// same type as parent's key (so the signature algorithm is the real one),
// and lints the result as kind. parent nil or parent == tmpl means
// self-signed, with pub as the issuer key. Run it before the HSM signs.
func PreIssue(tmpl, parent *x509.Certificate, pub crypto.PublicKey, kind Kind) (Result, error) {
	return NewLinter().PreIssue(tmpl, parent, pub, kind)
}

// PreIssue is the package-level PreIssue with this Linter's cached keys.
func (l *Linter) PreIssue(tmpl, parent *x509.Certificate, pub crypto.PublicKey, kind Kind) (Result, error) {
	der, err := l.signThrowaway(tmpl, parent, pub)
	if err != nil {
		return Result{}, err
	}
	return l.lint(der, kind, parent == nil || parent == tmpl)
}

// PreIssueCRL signs the CRL template with a throwaway key of the issuer's
// key type and lints it.
func (l *Linter) PreIssueCRL(tmpl *x509.RevocationList, issuer *x509.Certificate) (Result, error) {
	if issuer == nil {
		return Result{}, errors.New("pre-issue CRL: issuer certificate is required")
	}
	key, err := l.throwaway(issuer.PublicKey)
	if err != nil {
		return Result{}, fmt.Errorf("pre-issue CRL: %w", err)
	}
	// CreateRevocationList checks the key against issuer.PublicKey; the copy
	// keeps the real name and SKI (hence the AKI) with the throwaway key.
	fake := *issuer
	fake.PublicKey = key.Public()
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, &fake, key)
	if err != nil {
		return Result{}, fmt.Errorf("pre-issue CRL: signing with throwaway key: %w", err)
	}
	return l.LintCRL(der)
}

// signThrowaway returns tmpl signed as parent would sign it, but by a
// throwaway key; issuer name, AKI and signature algorithm stay the real ones.
func (l *Linter) signThrowaway(tmpl, parent *x509.Certificate, pub crypto.PublicKey) ([]byte, error) {
	if tmpl == nil {
		return nil, errors.New("pre-issue: no template")
	}
	selfSigned := parent == nil || parent == tmpl
	issuerPub := pub
	if !selfSigned {
		issuerPub = parent.PublicKey
	}
	// A P-384 or P-521 issuer's throwaway is a P-256 key told to use the
	// issuer's signature algorithm: the to-be-signed bytes are the same
	// (ecdsa-with-SHA384 names the hash, not the curve), and Go's check of
	// every signature CreateCertificate makes costs a tenth as much on
	// P-256. Only the discarded signature value differs.
	if ec, ok := issuerPub.(*ecdsa.PublicKey); ok && !selfSigned && ec.Curve != elliptic.P256() {
		alg := x509.ECDSAWithSHA384
		if ec.Curve == elliptic.P521() {
			alg = x509.ECDSAWithSHA512
		}
		if tmpl.SignatureAlgorithm == x509.UnknownSignatureAlgorithm || tmpl.SignatureAlgorithm == alg {
			t := *tmpl
			t.SignatureAlgorithm = alg
			tmpl = &t
			issuerPub = &ecdsa.PublicKey{Curve: elliptic.P256()}
		}
	}
	key, err := l.throwaway(issuerPub)
	if err != nil {
		return nil, fmt.Errorf("pre-issue: %w", err)
	}
	signParent := tmpl
	if !selfSigned {
		fake := *parent
		fake.PublicKey = key.Public()
		signParent = &fake
	}
	// The randomness only feeds the throwaway signature, which is discarded.
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signParent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("pre-issue: signing with throwaway key: %w", err)
	}
	return der, nil
}

// throwaway returns a cached in-memory key matching pub's type and size.
func (l *Linter) throwaway(pub crypto.PublicKey) (crypto.Signer, error) {
	id, gen, err := keyShape(pub)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if k, ok := l.keys[id]; ok {
		return k, nil
	}
	k, err := gen()
	if err != nil {
		return nil, fmt.Errorf("throwaway %s key: %w", id, err)
	}
	if l.keys == nil {
		l.keys = map[string]crypto.Signer{}
	}
	l.keys[id] = k
	return k, nil
}

func keyShape(pub crypto.PublicKey) (string, func() (crypto.Signer, error), error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		var curve elliptic.Curve
		switch k.Curve {
		case elliptic.P256():
			curve = elliptic.P256()
		case elliptic.P384():
			curve = elliptic.P384()
		case elliptic.P521():
			curve = elliptic.P521()
		default:
			return "", nil, fmt.Errorf("unsupported ECDSA curve %v", k.Curve.Params().Name)
		}
		return "ecdsa-" + curve.Params().Name, func() (crypto.Signer, error) {
			return ecdsa.GenerateKey(curve, rand.Reader)
		}, nil
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		return fmt.Sprintf("rsa-%d", bits), func() (crypto.Signer, error) {
			return rsa.GenerateKey(rand.Reader, bits)
		}, nil
	case ed25519.PublicKey:
		return "ed25519", func() (crypto.Signer, error) {
			_, priv, err := ed25519.GenerateKey(rand.Reader)
			return priv, err
		}, nil
	case nil:
		return "", nil, errors.New("issuer public key is missing (pass the parsed issuer certificate)")
	}
	return "", nil, fmt.Errorf("unsupported issuer key type %T", pub)
}
