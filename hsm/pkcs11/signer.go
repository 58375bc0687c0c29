package pkcs11

import (
	"context"
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/miekg/pkcs11"

	"github.com/muhr-pki/muhr/hsm"
)

// signer is a crypto.Signer for one private key on the token. It names the
// key by CKA_ID, so it keeps signing with exactly that key, and looks the
// object handle up again after a re-login or when the token calls it stale.
type signer struct {
	t       *Token
	label   string
	id      []byte
	keyType uint
	pub     crypto.PublicKey

	mu     sync.Mutex
	handle pkcs11.ObjectHandle
	gen    uint64 // Token generation handle was found in
}

var _ hsm.ContextSigner = (*signer)(nil)

func (t *Token) newSigner(label string, id []byte, keyType uint, pub crypto.PublicKey, h pkcs11.ObjectHandle, gen uint64) *signer {
	return &signer{t: t, label: label, id: id, keyType: keyType, pub: pub, handle: h, gen: gen}
}

// Public returns the key's *ecdsa.PublicKey or *rsa.PublicKey.
func (s *signer) Public() crypto.PublicKey { return s.pub }

// Label is the key's CKA_LABEL.
func (s *signer) Label() string { return s.label }

// Sign signs digest on the token; rand is unused (the token draws its own).
// ECDSA signatures come back ASN.1 DER encoded; *rsa.PSSOptions selects
// RSA-PSS, any other opts PKCS#1 v1.5.
func (s *signer) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), rand, digest, opts)
}

// SignContext is Sign bounded by ctx: waiting for a free session, for the
// token lock and for a re-login all end when ctx does (a PKCS#11 call
// already running on the token cannot be interrupted, so it finishes).
func (s *signer) SignContext(ctx context.Context, _ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	mech, input, err := s.mechanism(digest, opts)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: sign with %q: %w", s.label, err)
	}
	var sig []byte
	err = s.t.do(ctx, func(sh pkcs11.SessionHandle, _ uint64) error {
		h, err := s.lookup(sh, false)
		if err != nil {
			return err
		}
		sig, err = s.signOnce(sh, h, mech, input)
		if handleStale(err) && !s.t.loggedIn(sh) {
			// Some tokens hide private keys once logged out rather than
			// answer CKR_USER_NOT_LOGGED_IN; let do log in again.
			return pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN)
		}
		if handleStale(err) {
			if h, err = s.lookup(sh, true); err != nil {
				return err
			}
			sig, err = s.signOnce(sh, h, mech, input)
		}
		return err
	})
	if err != nil {
		if errors.Is(err, hsm.ErrUnavailable) || errors.Is(err, hsm.ErrKeyNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("pkcs11: sign with %q: %w", s.label, err)
	}
	if s.keyType == pkcs11.CKK_EC {
		return ecdsaDER(sig)
	}
	return sig, nil
}

func (s *signer) signOnce(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle, mech *pkcs11.Mechanism, input []byte) ([]byte, error) {
	if err := s.t.p11.SignInit(sh, []*pkcs11.Mechanism{mech}, h); err != nil {
		return nil, err
	}
	return s.t.p11.Sign(sh, input)
}

// lookup returns the private key's handle, finding it again by CKA_ID when
// the token has re-logged in since, or when fresh is set.
func (s *signer) lookup(sh pkcs11.SessionHandle, fresh bool) (pkcs11.ObjectHandle, error) {
	gen := s.t.generation()
	s.mu.Lock()
	h, hgen := s.handle, s.gen
	s.mu.Unlock()
	if !fresh && hgen == gen {
		return h, nil
	}
	h, err := s.t.findOne(sh, s.label, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_ID, s.id),
	})
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.handle, s.gen = h, gen
	s.mu.Unlock()
	return h, nil
}

func (t *Token) generation() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.gen
}

// mechanism picks the PKCS#11 mechanism for the key and opts and the bytes
// to hand to C_Sign.
func (s *signer) mechanism(digest []byte, opts crypto.SignerOpts) (*pkcs11.Mechanism, []byte, error) {
	if opts == nil {
		return nil, nil, errors.New("no crypto.SignerOpts given")
	}
	h := opts.HashFunc()
	if h != 0 && len(digest) != h.Size() {
		return nil, nil, fmt.Errorf("digest is %d bytes, %v needs %d", len(digest), h, h.Size())
	}
	switch s.keyType {
	case pkcs11.CKK_EC:
		if len(digest) == 0 {
			return nil, nil, errors.New("empty digest")
		}
		return pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil), digest, nil
	case pkcs11.CKK_RSA:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			m, err := pssMechanism(h, pss.SaltLength)
			return m, digest, err
		}
		prefix, ok := digestInfoPrefix[h]
		if !ok {
			return nil, nil, fmt.Errorf("RSA PKCS#1 v1.5 with %v is not supported (want SHA-256, SHA-384 or SHA-512)", h)
		}
		return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), append(append([]byte{}, prefix...), digest...), nil
	}
	return nil, nil, fmt.Errorf("key type %#x cannot sign", s.keyType)
}

// digestInfoPrefix is the DER DigestInfo header that CKM_RSA_PKCS expects
// in front of the digest (RFC 8017 section 9.2, note 1).
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

var pssHashes = map[crypto.Hash]struct{ mech, mgf uint }{
	crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
	crypto.SHA384: {pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384},
	crypto.SHA512: {pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512},
}

// pssMechanism builds CKM_RSA_PKCS_PSS. Go's "auto" salt length means as
// long as possible when signing but anything when verifying; the hash
// length is what RFC 8017 and most verifiers expect, so it is used for both.
func pssMechanism(h crypto.Hash, saltLength int) (*pkcs11.Mechanism, error) {
	p, ok := pssHashes[h]
	if !ok {
		return nil, fmt.Errorf("RSA-PSS with %v is not supported (want SHA-256, SHA-384 or SHA-512)", h)
	}
	salt := saltLength
	if salt == rsa.PSSSaltLengthAuto || salt == rsa.PSSSaltLengthEqualsHash {
		salt = h.Size()
	}
	if salt < 0 {
		return nil, fmt.Errorf("RSA-PSS salt length %d", saltLength)
	}
	params := pkcs11.NewPSSParams(p.mech, p.mgf, uint(salt))
	return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, params), nil
}

// ecdsaDER turns PKCS#11's raw r‖s into the ASN.1 SEQUENCE { r, s } that
// X.509, CMS and crypto/ecdsa expect, written directly (it runs once per
// signature: no big.Int or reflection).
func ecdsaDER(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 || len(raw) > 2*66 {
		return nil, fmt.Errorf("pkcs11: ECDSA signature of length %d", len(raw))
	}
	half := len(raw) / 2
	r, s := minimalUnsigned(raw[:half]), minimalUnsigned(raw[half:])
	body := intLen(r) + intLen(s)
	out := make([]byte, 0, 3+body)
	if body < 0x80 {
		out = append(out, 0x30, byte(body))
	} else {
		out = append(out, 0x30, 0x81, byte(body)) // P-521: at most 2×(2+67)
	}
	return appendUnsigned(appendUnsigned(out, r), s), nil
}

// minimalUnsigned drops leading zero octets, keeping one for zero.
func minimalUnsigned(b []byte) []byte {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// intLen is the DER INTEGER length of the unsigned big-endian b.
func intLen(b []byte) int {
	if b[0]&0x80 != 0 {
		return 3 + len(b)
	}
	return 2 + len(b)
}

func appendUnsigned(out, b []byte) []byte {
	if b[0]&0x80 != 0 {
		return append(append(out, 0x02, byte(len(b)+1), 0), b...)
	}
	return append(append(out, 0x02, byte(len(b))), b...)
}
