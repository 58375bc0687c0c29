package policy

import (
	"crypto"
	"crypto/x509"
)

// PreIssueLinted is PreIssue that also returns the certificate it linted
// (signed by the throwaway key). signThrowaway keeps the issuer name, AKI
// and signature algorithm of the real issuer, so its RawTBSCertificate is,
// byte for byte, the one the real CA key must sign: the issuer compares
// them and stores nothing that differs from what was linted.
func (l *Linter) PreIssueLinted(tmpl, parent *x509.Certificate, pub crypto.PublicKey, kind Kind) (Result, []byte, error) {
	der, err := l.signThrowaway(tmpl, parent, pub)
	if err != nil {
		return Result{}, nil, err
	}
	res, err := l.lint(der, kind, parent == nil || parent == tmpl)
	return res, der, err
}
