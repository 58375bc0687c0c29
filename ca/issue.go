package ca

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
)

// Request is an approved certificate request.
type Request struct {
	// ID identifies the approved request; issuing the same ID twice yields
	// one certificate.
	ID       string
	Profile  string
	CSR      []byte // PEM or DER
	Identity policy.Identity
	// QSCD states that the key was generated on a qualified device.
	QSCD  bool
	Actor string // who asks for issuance, for the audit log
}

// Prepared is a request that passed every check and whose to-be-signed
// certificate passed lint. Nothing is stored yet.
type Prepared struct {
	req      Request
	tmpl     *x509.Certificate
	pub      crypto.PublicKey
	spkiHash [32]byte
	profile  string // name/version recorded with the certificate
	existing *x509.Certificate
}

// Serial is the serial number the certificate will carry.
func (p *Prepared) Serial() *big.Int {
	if p.existing != nil {
		return p.existing.SerialNumber
	}
	return p.tmpl.SerialNumber
}

// Prepare checks the CSR, builds the certificate from the profile and the
// registered identity, draws a serial and lints the result.
func (i *Issuer) Prepare(ctx context.Context, req Request) (*Prepared, error) {
	if req.ID == "" {
		return nil, fmt.Errorf("%w: request id is empty", ErrRequest)
	}
	if p, err := i.already(ctx, req.ID); p != nil || err != nil {
		return p, err
	}
	checked, err := i.checkCSR(req.CSR)
	if err != nil {
		return nil, err
	}
	hash := sha256.Sum256(checked.spki)
	used, err := i.opts.Store.IntentsBySPKI(ctx, hash[:])
	if err != nil {
		return nil, fmt.Errorf("issuer: look up key: %w", err)
	}
	for _, in := range used {
		if in.RequestID != req.ID {
			return nil, fmt.Errorf("%w (request %s); the subscriber must generate a new key", ErrKeyReused, in.RequestID)
		}
	}
	serial, err := policy.NewSerial(i.opts.Rand)
	if err != nil {
		return nil, fmt.Errorf("issuer: draw serial: %w", err)
	}
	tmpl, kind, name, err := i.build(req, checked.pub, serial)
	if err != nil {
		return nil, err
	}
	res, err := i.opts.Linter.PreIssue(tmpl, i.cert, checked.pub, kind)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLint, err)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLint, err)
	}
	return &Prepared{req: req, tmpl: tmpl, pub: checked.pub, spkiHash: hash, profile: name}, nil
}

// already returns a Prepared holding the request's certificate when it was
// issued before, and ErrInProgress while another issuance of it is under way.
func (i *Issuer) already(ctx context.Context, requestID string) (*Prepared, error) {
	in, err := i.opts.Store.LiveIntent(ctx, requestID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("issuer: look up request %s: %w", requestID, err)
	}
	if in.State == store.IntentPending {
		return nil, fmt.Errorf("%w: request %s has serial %x pending", ErrInProgress, requestID, in.Serial)
	}
	c, err := i.opts.Store.GetCertificate(ctx, in.IssuerID, in.Serial)
	if err != nil {
		return nil, fmt.Errorf("issuer: issued certificate of request %s: %w", requestID, err)
	}
	cert, err := x509.ParseCertificate(c.DER)
	if err != nil {
		return nil, fmt.Errorf("issuer: stored certificate %x: %w", in.Serial, err)
	}
	return &Prepared{req: Request{ID: requestID}, existing: cert}, nil
}

// Issue records the intent, has the HSM sign and stores the certificate.
// A failure after the intent is written burns the serial; the request can
// be issued again.
func (i *Issuer) Issue(ctx context.Context, p *Prepared) (*x509.Certificate, error) {
	if p.existing != nil {
		return p.existing, nil
	}
	serial := p.tmpl.SerialNumber
	obj := certObject(i.ca.ID, serial)
	now := i.opts.Clock().UTC()
	err := i.opts.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.ReserveSerial(ctx, store.SerialReservation{IssuerID: i.ca.ID, Serial: serial, Purpose: p.profile, ReservedAt: now}); err != nil {
			return err
		}
		if err := tx.InsertIntent(ctx, store.IssuanceIntent{IssuerID: i.ca.ID, Serial: serial, RequestID: p.req.ID,
			Profile: p.profile, SPKIHash: p.spkiHash[:], State: store.IntentPending, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		_, err := audit.Append(ctx, tx, now, audit.Entry{Actor: p.req.Actor, Action: "issuance.intent", Object: obj,
			Details: map[string]any{"request": p.req.ID, "profile": p.profile, "subject": p.tmpl.Subject.String(),
				"spki_sha256": fmt.Sprintf("%x", p.spkiHash)}})
		return err
	})
	if errors.Is(err, store.ErrExists) {
		// Another issuance of this request won the race.
		if q, aerr := i.already(ctx, p.req.ID); aerr != nil || q != nil {
			if aerr != nil {
				return nil, aerr
			}
			return q.existing, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("issuer: record intent %s: %w", obj, err)
	}
	if err := i.fail(StageIntentWritten); err != nil {
		return nil, err
	}

	der, err := x509.CreateCertificate(i.opts.Rand, p.tmpl, i.cert, p.pub, i.signer)
	if err != nil {
		return nil, i.abandon(ctx, p, fmt.Errorf("%w: %v", ErrSign, err))
	}
	// CreateCertificate has already verified the HSM's signature against
	// the CA's public key (it refuses a misbehaving crypto.Signer), so a
	// second check here would only cost another ECDSA verification.
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, i.abandon(ctx, p, fmt.Errorf("%w: signed certificate does not parse: %v", ErrSign, err))
	}
	if err := i.fail(StageSigned); err != nil {
		return nil, err
	}

	done := i.opts.Clock().UTC()
	err = i.opts.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.InsertCertificate(ctx, store.Certificate{IssuerID: i.ca.ID, Serial: serial, Subject: cert.Subject.String(),
			Profile: p.profile, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, DER: der, Status: store.CertStatusValid}); err != nil {
			return err
		}
		if err := tx.SetIntentState(ctx, i.ca.ID, serial, store.IntentPending, store.IntentIssued, done); err != nil {
			return err
		}
		_, err := audit.Append(ctx, tx, done, audit.Entry{Actor: p.req.Actor, Action: "cert.issue", Object: obj,
			Details: map[string]any{"request": p.req.ID, "profile": p.profile, "subject": cert.Subject.String(),
				"sha256": Fingerprint(der), "not_after": cert.NotAfter.UTC().Format("2006-01-02T15:04:05Z")}})
		return err
	})
	if err != nil {
		// The intent stays pending; Recover abandons it. Never hand out a
		// certificate that is not stored.
		return nil, fmt.Errorf("issuer: store certificate %s: %w", obj, err)
	}
	i.opts.Log.Info("certificate issued", "ca", i.ca.ID, "serial", fmt.Sprintf("%x", serial), "profile", p.profile, "request", p.req.ID)
	return cert, nil
}

// IssueRequest is Prepare then Issue.
func (i *Issuer) IssueRequest(ctx context.Context, req Request) (*x509.Certificate, error) {
	p, err := i.Prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	return i.Issue(ctx, p)
}

// abandon burns the serial of an issuance that failed before anything was
// stored, so the request can be retried at once.
func (i *Issuer) abandon(ctx context.Context, p *Prepared, cause error) error {
	now := i.opts.Clock().UTC()
	serial := p.tmpl.SerialNumber
	err := i.opts.Store.InTx(context.WithoutCancel(ctx), func(ctx context.Context, tx store.Tx) error {
		if err := tx.SetIntentState(ctx, i.ca.ID, serial, store.IntentPending, store.IntentAbandoned, now); err != nil {
			return err
		}
		_, err := audit.Append(ctx, tx, now, audit.Entry{Actor: p.req.Actor, Action: "issuance.abandon",
			Object: certObject(i.ca.ID, serial), Details: map[string]any{"request": p.req.ID, "reason": cause.Error()}})
		return err
	})
	if err != nil {
		i.opts.Log.Error("abandon failed issuance", "serial", fmt.Sprintf("%x", serial), "err", err)
	}
	return cause
}

func (i *Issuer) fail(s Stage) error {
	if i.opts.failpoint == nil {
		return nil
	}
	return i.opts.failpoint(s)
}
