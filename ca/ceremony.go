// Package ca holds the certification authority's operations: the key
// ceremony that creates the hierarchy and, later, issuance and CRLs.
package ca

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/store"
)

// ErrAlreadyDone means the ceremony's CA ids or key labels already exist; a
// ceremony never overwrites anything.
var ErrAlreadyDone = errors.New("ceremony: refusing to overwrite")

// Ceremony performs a Plan against the HSM and the store.
type Ceremony struct {
	Keys      hsm.KeyStore
	Store     store.Store
	PublicURL string // base of the AIA, OCSP and CRL URLs written into certificates
	Clock     func() time.Time
	Rand      io.Reader
	Log       *slog.Logger
}

// Made is one thing the ceremony created.
type Made struct {
	Role        string // root, issuing, services, management, ocsp, tsa, crl
	ID          string // CA id, or the CA the signer or CRL belongs to
	Subject     string
	KeyLabel    string
	Fingerprint string // SHA-256 of the DER, hex
	Cert        *x509.Certificate
	DER         []byte
}

func (c *Ceremony) now() time.Time {
	if c.Clock != nil {
		return c.Clock().UTC()
	}
	return time.Now().UTC()
}

func (c *Ceremony) rand() io.Reader {
	if c.Rand != nil {
		return c.Rand
	}
	return rand.Reader
}

func (c *Ceremony) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.DiscardHandler)
}

// preflight refuses a plan whose CA ids or key labels already exist, before
// anything is generated, so a second run changes nothing.
func (c *Ceremony) preflight(ctx context.Context, p *Plan) error {
	var taken []string
	for _, id := range p.caIDs() {
		_, err := c.Store.GetCA(ctx, id)
		switch {
		case err == nil:
			taken = append(taken, "CA id "+id)
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("ceremony: look up CA %s: %w", id, err)
		}
	}
	for _, k := range p.keyPlans() {
		_, err := c.Keys.Signer(ctx, k.Label)
		switch {
		case err == nil:
			taken = append(taken, "key label "+k.Label)
		case !errors.Is(err, hsm.ErrKeyNotFound):
			return fmt.Errorf("ceremony: look up key %s: %w", k.Label, err)
		}
	}
	if len(taken) > 0 {
		return fmt.Errorf("%w: %s already exist(s); nothing was changed", ErrAlreadyDone, strings.Join(taken, ", "))
	}
	return nil
}

func (p *Plan) caIDs() []string {
	ids := []string{p.Root.ID, p.Management.ID}
	for _, is := range p.Issuing {
		ids = append(ids, is.ID)
	}
	for _, sv := range p.Services {
		ids = append(ids, sv.ID)
	}
	return ids
}

func (p *Plan) keyPlans() []KeyPlan {
	ks := []KeyPlan{p.Root.Key, p.Management.Key, p.TSA.Key}
	for _, is := range p.Issuing {
		ks = append(ks, is.Key, is.OCSPSigner.Key)
	}
	for _, sv := range p.Services {
		ks = append(ks, sv.Key, sv.OCSPSigner.Key)
	}
	if p.AuditCheckpoint != nil {
		ks = append(ks, p.AuditCheckpoint.Key)
	}
	return ks
}

// Fingerprint is the hex SHA-256 of a DER certificate or CRL.
func Fingerprint(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}
