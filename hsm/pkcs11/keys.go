package pkcs11

import (
	"context"
	"crypto"
	"crypto/rand"
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
// SoftHSM2 (and others) would otherwise allow them; CKA_MODIFIABLE=false
// keeps them that way.
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
		// Not modifiable: nobody holding the user PIN can later turn on
		// decrypt or unwrap for a CA key.
		pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, false),
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
	t.keygen.Lock()
	defer t.keygen.Unlock()
	var s *signer
	err = t.do(ctx, func(sh pkcs11.SessionHandle, gen uint64) error {
		taken, err := t.findObjects(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)})
		if err != nil {
			return err
		}
		if len(taken) > 0 {
			return fmt.Errorf("%w: %q is already on token %q", hsm.ErrKeyExists, label, t.label)
		}
		if !t.loggedIn(sh) {
			// Logged out, private objects are invisible: the label check
			// above proved nothing. do logs in again and retries.
			return pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN)
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
