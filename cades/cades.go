// Package cades makes CAdES signatures (ETSI EN 319 122-1) over documents:
// CAdES-B (a CMS SignedData whose signed attributes are contentType,
// messageDigest, signingTime and signingCertificateV2) and CAdES-T (the
// same with a signature timestamp from an RFC 3161 TSA as the unsigned
// attribute id-aa-signatureTimeStampToken). The key is any crypto.Signer:
// a key on a token through the hsm layer, or a key file for development.
//
// The output verifies with `openssl cms -verify` and with package verify.
package cades

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/muhr-pki/muhr/internal/cms"
)

// Options of a signature.
type Options struct {
	// Attached puts the document inside the signature; the default is a
	// detached .p7s beside it.
	Attached bool
	// Chain are the intermediates to carry after the signer's certificate
	// (not the root).
	Chain []*x509.Certificate
	// Digest is SHA-256 by default; SHA-384 and SHA-512 are accepted.
	Digest crypto.Hash
	// TSA, when set, is the URL of an RFC 3161 TSA: the signature becomes
	// CAdES-T.
	TSA string
	// HTTP reaches the TSA; nil is a client with Timeout.
	HTTP    *http.Client
	Timeout time.Duration
}

// ErrInput marks a signature the caller's input cannot make (a key not
// matching the certificate, an unknown digest).
var ErrInput = errors.New("cades: cannot sign")

// Sign signs content with key, whose certificate is cert.
func Sign(ctx context.Context, content []byte, cert *x509.Certificate, key crypto.Signer, o Options) ([]byte, error) {
	if cert == nil || key == nil {
		return nil, fmt.Errorf("%w: a certificate and a key are needed", ErrInput)
	}
	if !samePublicKey(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%w: the key is not the certificate's", ErrInput)
	}
	if o.Digest == 0 {
		o.Digest = crypto.SHA256
	}
	digestOID := cms.HashOID(o.Digest)
	if digestOID == nil {
		return nil, fmt.Errorf("%w: digest %s (SHA-256, SHA-384 or SHA-512)", ErrInput, o.Digest)
	}
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		return nil, fmt.Errorf("cades: %w", err)
	}
	sd.SetDigestAlgorithm(digestOID)
	signed := []pkcs7.Attribute{{Type: cms.OIDAttrSigningCertV2, Value: asn1.RawValue{FullBytes: cms.SigningCertificateV2(cert)}}}
	if len(o.Chain) > 0 {
		err = sd.AddSignerChain(cert, key, o.Chain, pkcs7.SignerInfoConfig{ExtraSignedAttributes: signed})
	} else {
		err = sd.AddSigner(cert, key, pkcs7.SignerInfoConfig{ExtraSignedAttributes: signed})
	}
	if err != nil {
		return nil, fmt.Errorf("cades: sign: %w", err)
	}
	if o.TSA != "" {
		si := &sd.GetSignedData().SignerInfos[0]
		token, err := Timestamp(ctx, o.HTTP, o.Timeout, o.TSA, si.EncryptedDigest, o.Digest)
		if err != nil {
			return nil, err
		}
		if err := si.SetUnauthenticatedAttributes([]pkcs7.Attribute{{Type: cms.OIDAttrSignatureTSToken,
			Value: asn1.RawValue{FullBytes: token}}}); err != nil {
			return nil, fmt.Errorf("cades: add timestamp: %w", err)
		}
	}
	if !o.Attached {
		sd.Detach()
	}
	out, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("cades: encode: %w", err)
	}
	return out, nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	switch k := a.(type) {
	case *rsa.PublicKey:
		return k.Equal(b)
	case *ecdsa.PublicKey:
		return k.Equal(b)
	case ed25519.PublicKey:
		return k.Equal(b)
	}
	return false
}
