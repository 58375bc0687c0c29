package pkcs11

import (
	"context"
	"crypto"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"

	"github.com/muhr-pki/muhr/hsm"
)

// Keys lists the private keys on the token, with what PKCS#11 says about
// them, including keys this package would refuse to sign with.
func (t *Token) Keys(ctx context.Context) ([]hsm.KeyInfo, error) {
	var out []hsm.KeyInfo
	err := t.do(ctx, func(sh pkcs11.SessionHandle, _ uint64) error {
		out = out[:0]
		privs, err := t.findObjects(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)})
		if err != nil {
			return err
		}
		for _, h := range privs {
			info, err := t.keyInfo(sh, h)
			if err != nil {
				return err
			}
			out = append(out, info)
		}
		return nil
	})
	if err == nil && len(out) == 0 {
		// A vanished token shows no keys rather than an error.
		if perr := t.stillPresent(ctx); perr != nil {
			return nil, fmt.Errorf("%w: token %q: %w", hsm.ErrUnavailable, t.label, perr)
		}
	}
	return out, err
}

func (t *Token) keyInfo(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) (hsm.KeyInfo, error) {
	got, err := t.p11.GetAttributeValue(sh, h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
		pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil),
	})
	if err != nil {
		return hsm.KeyInfo{}, fmt.Errorf("pkcs11: read key attributes: %w", err)
	}
	info := hsm.KeyInfo{Label: string(got[0].Value), ID: got[1].Value}
	keyType := bytesToUint(got[2].Value)
	attrs, err := readKeyAttrs(t.p11, sh, h)
	if err != nil {
		return hsm.KeyInfo{}, fmt.Errorf("pkcs11: read attributes of %q: %w", info.Label, err)
	}
	info.Sensitive, info.Extractable = attrs.Sensitive, attrs.Extractable
	info.AlwaysSensitive, info.NeverExtractable = attrs.AlwaysSensitive, attrs.NeverExtractable
	// A key whose public half cannot be read is still listed.
	info.Public, _ = t.publicFor(sh, keyType, info.ID, h)
	var params []byte
	var bits int
	switch keyType {
	case pkcs11.CKK_EC:
		if a, err := t.p11.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil)}); err == nil {
			params = a[0].Value
		}
	case pkcs11.CKK_RSA:
		if a, err := t.p11.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil)}); err == nil {
			bits = len(a[0].Value) * 8
		}
	}
	info.Algorithm = algorithmOf(info.Public, keyType, params, bits)
	return info, nil
}

// publicFor finds the Go public key of a private key: from the public object
// with the same CKA_ID, or for RSA from the private object itself.
func (t *Token) publicFor(sh pkcs11.SessionHandle, keyType uint, id []byte, privH pkcs11.ObjectHandle) (crypto.PublicKey, error) {
	pubs, err := t.findObjects(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	})
	if err != nil {
		return nil, err
	}
	if len(pubs) > 0 {
		return t.publicKey(sh, keyType, pubs[0])
	}
	if keyType == pkcs11.CKK_RSA {
		return t.publicKey(sh, keyType, privH)
	}
	return nil, errors.New("no public key object with the same CKA_ID")
}

// publicKey reads the Go public key from a public (or RSA private) object.
func (t *Token) publicKey(sh pkcs11.SessionHandle, keyType uint, h pkcs11.ObjectHandle) (crypto.PublicKey, error) {
	switch keyType {
	case pkcs11.CKK_EC:
		a, err := t.p11.GetAttributeValue(sh, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil),
			pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil),
		})
		if err != nil {
			return nil, err
		}
		return ecPublicKey(a[0].Value, a[1].Value)
	case pkcs11.CKK_RSA:
		a, err := t.p11.GetAttributeValue(sh, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil),
		})
		if err != nil {
			return nil, err
		}
		return rsaPublicKey(a[0].Value, a[1].Value)
	}
	return nil, fmt.Errorf("key type %#x is not supported", keyType)
}

func (t *Token) keyType(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) (uint, error) {
	a, err := t.p11.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil)})
	if err != nil {
		return 0, fmt.Errorf("pkcs11: read CKA_KEY_TYPE: %w", err)
	}
	return bytesToUint(a[0].Value), nil
}
