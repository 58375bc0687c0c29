package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/muhr-pki/muhr/hsm"
)

// probeTTL is how long a ProbeKey result is reused: at most one probe
// signature per key per interval, however often health is asked.
const probeTTL = 1500 * time.Millisecond

// probeDigest is the fixed digest probes sign. It is not a hash of any
// structure a relying party would accept (no TBS certificate, no TSTInfo
// hashes to it), so a probe signature is useless to anyone who sees it.
var probeDigest = sha256.Sum256([]byte("muhr hsm key probe: not a signature over any document"))

// probe is the state of one key's probes.
type probe struct {
	check
	s *signer // found on the first probe; re-found after a failure
}

// ProbeKey reports nil when the key labelled label can sign right now: it
// signs a fixed digest with it on the token and verifies the signature
// with the key's public half. Results are reused for about 1.5 s and
// concurrent callers share one signature, so health checks may call it as
// often as they like. Errors wrap hsm.ErrUnavailable, and hsm.ErrKeyNotFound
// as well when the key is not on the token.
func (t *Token) ProbeKey(ctx context.Context, label string) error {
	if err := t.closedErr(); err != nil {
		return err
	}
	t.probeMu.Lock()
	p, ok := t.probes[label]
	if !ok {
		p = &probe{}
		t.probes[label] = p
	}
	t.probeMu.Unlock()
	return p.run(ctx, probeTTL, func(ctx context.Context) error {
		err := t.probeOnce(ctx, p, label)
		if err != nil && !errors.Is(err, hsm.ErrUnavailable) {
			err = fmt.Errorf("%w: %w", hsm.ErrUnavailable, err)
		}
		return err
	})
}

// probeOnce runs under p's check, so p.s needs no lock of its own.
func (t *Token) probeOnce(ctx context.Context, p *probe, label string) error {
	if p.s == nil {
		s, err := t.Signer(ctx, label)
		if err != nil {
			return fmt.Errorf("probe key %q: %w", label, err)
		}
		p.s = s.(*signer)
	}
	s := p.s
	t.probeSigns.Add(1)
	sig, err := s.SignContext(ctx, nil, probeDigest[:], crypto.SHA256)
	if err == nil {
		err = verifyProbe(s.pub, sig)
	}
	if err != nil {
		p.s = nil // find the key afresh next time: it may have been replaced
		return fmt.Errorf("probe key %q: %w", label, err)
	}
	return nil
}

func verifyProbe(pub crypto.PublicKey, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, probeDigest[:], sig) {
			return errors.New("the token's signature does not verify with the key's public key")
		}
		return nil
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, probeDigest[:], sig); err != nil {
			return fmt.Errorf("the token's signature does not verify with the key's public key: %w", err)
		}
		return nil
	}
	return fmt.Errorf("public key of type %T", pub)
}
