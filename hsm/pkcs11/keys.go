package pkcs11

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"

	"github.com/muhr-pki/muhr/hsm"
)

// idLen is the length of the random CKA_ID shared by a key pair.
const idLen = 16

// noRetry marks an error after which do must not run the operation again,
// because the first attempt may have changed the token (key generation).
type noRetry struct{ err error }

func (e noRetry) Error() string { return e.err.Error() }
func (e noRetry) Unwrap() error { return e.err }

// templates returns the mechanism and the public and private templates for
// alg. CKA_DECRYPT, CKA_UNWRAP and CKA_DERIVE are set false explicitly:
// SoftHSM2 (and others) would otherwise allow them.
func templates(alg hsm.KeyAlgorithm, label string, id []byte) (*pkcs11.Mechanism, []*pkcs11.Attribute, []*pkcs11.Attribute, error) {
	var mech *pkcs11.Mechanism
	var keyType uint
	var pubExtra []*pkcs11.Attribute
	switch alg {
	case hsm.ECDSAP256, hsm.ECDSAP384:
		oid := oidP256
		if alg == hsm.ECDSAP384 {
			oid = oidP384
		}
		mech = pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)
		keyType = pkcs11.CKK_EC
		pubExtra = []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, ecParams(oid))}
	case hsm.RSA2048, hsm.RSA3072, hsm.RSA4096:
		bits := map[hsm.KeyAlgorithm]int{hsm.RSA2048: 2048, hsm.RSA3072: 3072, hsm.RSA4096: 4096}[alg]
		mech = pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)
		keyType = pkcs11.CKK_RSA
		pubExtra = []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, bits),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
		}
	default:
		return nil, nil, nil, fmt.Errorf("pkcs11: cannot generate %q keys", alg)
	}
	pub := append([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}, pubExtra...)
	priv := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}
	return mech, pub, priv, nil
}

// Generate makes a key pair on the token under label, checks that the
// private key is always-sensitive and never-extractable (destroying the pair
// and returning hsm.ErrKeyExtractable if not) and returns its signer.
func (t *Token) Generate(ctx context.Context, label string, alg hsm.KeyAlgorithm) (crypto.Signer, error) {
	if label == "" {
		return nil, errors.New("pkcs11: empty key label")
	}
	id := make([]byte, idLen)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	mech, pubT, privT, err := templates(alg, label, id)
	if err != nil {
		return nil, err
	}
	if !t.claimLabel(label) {
		return nil, fmt.Errorf("%w: %q is being generated on token %q", hsm.ErrKeyExists, label, t.label)
	}
	defer t.releaseLabel(label)
	var s *signer
	err = t.do(ctx, func(sh pkcs11.SessionHandle, gen uint64) error {
		taken, err := t.findObjects(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)})
		if err != nil {
			return err
		}
		if len(taken) > 0 {
			return fmt.Errorf("%w: %q is already on token %q", hsm.ErrKeyExists, label, t.label)
		}
		pubH, privH, err := t.p11.GenerateKeyPair(sh, []*pkcs11.Mechanism{mech}, pubT, privT)
		if err != nil {
			if sessionLost(err) {
				return noRetry{fmt.Errorf("generating %q was interrupted; check with `muhr hsm keys` whether it exists: %w", label, err)}
			}
			return fmt.Errorf("pkcs11: generate %s key %q: %w", alg, label, err)
		}
		s, err = t.checkGenerated(sh, gen, label, id, pubH, privH)
		if err != nil && !sessionLost(err) {
			// Best effort: a pair we refuse must not stay on the token.
			_ = t.p11.DestroyObject(sh, privH)
			_ = t.p11.DestroyObject(sh, pubH)
		}
		if sessionLost(err) {
			return noRetry{fmt.Errorf("key %q was generated but could not be checked; check it with `muhr hsm keys`: %w", label, err)}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (t *Token) claimLabel(label string) bool {
	t.genMu.Lock()
	defer t.genMu.Unlock()
	if t.generating[label] {
		return false
	}
	t.generating[label] = true
	return true
}

func (t *Token) releaseLabel(label string) {
	t.genMu.Lock()
	defer t.genMu.Unlock()
	delete(t.generating, label)
}

// checkGenerated reads back the new private key's attributes and refuses it
// unless the token vouches it never left in clear.
func (t *Token) checkGenerated(sh pkcs11.SessionHandle, gen uint64, label string, id []byte, pubH, privH pkcs11.ObjectHandle) (*signer, error) {
	attrs, err := readKeyAttrs(t.p11, sh, privH)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: read attributes of new key %q: %w", label, err)
	}
	if err := checkSigningKey(label, attrs); err != nil {
		return nil, err
	}
	keyType, err := t.keyType(sh, privH)
	if err != nil {
		return nil, err
	}
	pub, err := t.publicKey(sh, keyType, pubH)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: public key of %q: %w", label, err)
	}
	return t.newSigner(label, id, keyType, pub, privH, gen), nil
}

// Signer finds the private key labelled label and returns its signer. A key
// that is not always-sensitive and never-extractable is refused.
func (t *Token) Signer(ctx context.Context, label string) (crypto.Signer, error) {
	var s *signer
	err := t.do(ctx, func(sh pkcs11.SessionHandle, gen uint64) error {
		privH, err := t.findOne(sh, label, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		})
		if err != nil {
			return err
		}
		attrs, err := readKeyAttrs(t.p11, sh, privH)
		if err != nil {
			return fmt.Errorf("pkcs11: read attributes of %q: %w", label, err)
		}
		if err := checkSigningKey(label, attrs); err != nil {
			return err
		}
		got, err := t.p11.GetAttributeValue(sh, privH, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil),
		})
		if err != nil {
			return fmt.Errorf("pkcs11: read CKA_ID of %q: %w", label, err)
		}
		id, keyType := got[0].Value, bytesToUint(got[1].Value)
		if len(id) == 0 {
			return fmt.Errorf("pkcs11: key %q has no CKA_ID, so its public key cannot be found", label)
		}
		pub, err := t.publicFor(sh, keyType, id, privH)
		if err != nil {
			return fmt.Errorf("pkcs11: public key of %q: %w", label, err)
		}
		s = t.newSigner(label, id, keyType, pub, privH, gen)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

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

// findOne finds exactly one object matching tmpl; what names it in errors.
func (t *Token) findOne(sh pkcs11.SessionHandle, what string, tmpl []*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
	hs, err := t.findObjects(sh, tmpl)
	if err != nil {
		return 0, err
	}
	switch len(hs) {
	case 0:
		return 0, fmt.Errorf("%w: %q on token %q", hsm.ErrKeyNotFound, what, t.label)
	case 1:
		return hs[0], nil
	}
	return 0, fmt.Errorf("pkcs11: %d private keys match %q on token %q; labels must be unique", len(hs), what, t.label)
}

func (t *Token) findObjects(sh pkcs11.SessionHandle, tmpl []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := t.p11.FindObjectsInit(sh, tmpl); err != nil {
		return nil, err
	}
	var out []pkcs11.ObjectHandle
	for {
		hs, _, err := t.p11.FindObjects(sh, 64)
		if err != nil {
			_ = t.p11.FindObjectsFinal(sh)
			return nil, err
		}
		out = append(out, hs...)
		if len(hs) < 64 {
			break
		}
	}
	if err := t.p11.FindObjectsFinal(sh); err != nil {
		return nil, err
	}
	return out, nil
}

// bytesToUint decodes a CK_ULONG attribute value, which the module writes
// in the host's byte order.
func bytesToUint(b []byte) uint {
	switch len(b) {
	case 8:
		return uint(binary.NativeEndian.Uint64(b))
	case 4:
		return uint(binary.NativeEndian.Uint32(b))
	}
	return ^uint(0) // CK_UNAVAILABLE_INFORMATION
}
