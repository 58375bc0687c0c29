package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
)

// OCSPSignerLeaseName is the lease under which one process renews the
// delegated OCSP signers.
const OCSPSignerLeaseName = "ocsp-signer"

// ActionOCSPSignerRenew is the audit action of a renewed OCSP signer.
const ActionOCSPSignerRenew = "ocsp.signer.renew"

// OCSPSignerStore is what the renewer reads and writes (store.Store has it).
type OCSPSignerStore interface {
	GetCA(ctx context.Context, id string) (store.CA, error)
	LatestSigner(ctx context.Context, role, caID string) (store.Signer, error)
	store.Leases
	txRunner
}

// OCSPSignerKeys generates the new key and signs with the CA's
// (hsm.KeyStore fits).
type OCSPSignerKeys interface {
	Generate(ctx context.Context, label string, alg hsm.KeyAlgorithm) (crypto.Signer, error)
	Signer(ctx context.Context, label string) (crypto.Signer, error)
}

// OCSPSignerRenewer keeps each CA's delegated OCSP signer short-lived: once
// two thirds of the newest signer certificate's life have passed, it
// generates a fresh key on the token and has the CA certify it for
// Validity. The certificate carries id-pkix-ocsp-nocheck, so it cannot be
// revoked in practice; a short life and a new key each time bound what a
// stolen signer could do. Responders pick the new signer up from the store
// (store.LatestSigner) and keep using the old one, still valid for a third
// of its life, until then.
type OCSPSignerRenewer struct {
	Store OCSPSignerStore
	Keys  OCSPSignerKeys
	// CAs are the issuing CAs renewed for: those whose keys are on this
	// token.
	CAs []string
	// PublicURL is the base of the caIssuers URL in the certificate.
	PublicURL string
	// Validity of each new signer certificate (config
	// revocation.ocsp_signer_validity).
	Validity time.Duration
	// Holder names this process in the lease; LeaseTTL is how long the
	// lease lasts unrenewed.
	Holder   string
	LeaseTTL time.Duration
	Actor    string // audit actor; "muhrd" when empty
	Now      func() time.Time
	Rand     io.Reader
	Log      *slog.Logger
}

// RenewedSigner is a signer the renewer made.
type RenewedSigner struct {
	CAID     string
	OldLabel string
	Signer   store.Signer
}

func (r *OCSPSignerRenewer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *OCSPSignerRenewer) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// SignerDue reports whether a signer certificate has passed two thirds of
// its life at now.
func SignerDue(cert *x509.Certificate, now time.Time) bool {
	life := cert.NotAfter.Sub(cert.NotBefore)
	return !now.Before(cert.NotBefore.Add(life * 2 / 3))
}

// Tick takes or renews the lease and, holding it, renews every signer that
// is due. Another holder's lease means nothing to do here (nil, nil).
func (r *OCSPSignerRenewer) Tick(ctx context.Context) ([]RenewedSigner, error) {
	if r.Validity <= 0 {
		return nil, errors.New("ocsp signer renewal: Validity must be positive")
	}
	now := r.now()
	ok, err := r.Store.AcquireLease(ctx, OCSPSignerLeaseName, r.Holder, now, r.LeaseTTL)
	if err != nil || !ok {
		return nil, err
	}
	var out []RenewedSigner
	var errs []error
	for _, id := range r.CAs {
		// Read under the lease: a signer renewed by the previous holder is
		// seen here and not renewed twice.
		old, err := r.Store.LatestSigner(ctx, store.SignerRoleOCSP, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // a CA without a delegated responder
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("CA %s: %w", id, err))
			continue
		}
		oldCert, err := x509.ParseCertificate(old.CertDER)
		if err != nil {
			errs = append(errs, fmt.Errorf("CA %s: signer certificate: %w", id, err))
			continue
		}
		if !SignerDue(oldCert, now) {
			continue
		}
		s, err := r.renew(ctx, id, old, oldCert, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("CA %s: %w", id, err))
			continue
		}
		r.log().Info("ocsp signer renewed", "ca", id, "old_key", old.KeyLabel, "new_key", s.KeyLabel,
			"serial", s.Serial.Text(16), "not_after", s.NotAfter)
		out = append(out, RenewedSigner{CAID: id, OldLabel: old.KeyLabel, Signer: s})
	}
	return out, errors.Join(errs...)
}

// Run ticks every interval until ctx ends (the first at once), then gives
// up the lease.
func (r *OCSPSignerRenewer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.Tick(ctx); err != nil && ctx.Err() == nil {
			r.log().Error("ocsp signer renewal failed; retried at the next check", "err", err.Error())
		}
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := r.Store.ReleaseLease(rctx, OCSPSignerLeaseName, r.Holder); err != nil {
				r.log().Warn("ocsp signer renewal: release lease", "err", err.Error())
			}
			cancel()
			return
		case <-t.C:
		}
	}
}

func (r *OCSPSignerRenewer) rand() io.Reader {
	if r.Rand != nil {
		return r.Rand
	}
	return rand.Reader
}

// renew makes the new key and certificate and stores them, audited, in one
// transaction. A key generated but not stored (the transaction failed) is
// named in the error so the security officer can destroy it.
func (r *OCSPSignerRenewer) renew(ctx context.Context, caID string, old store.Signer, oldCert *x509.Certificate, now time.Time) (store.Signer, error) {
	now = now.UTC().Truncate(time.Second)
	row, err := r.Store.GetCA(ctx, caID)
	if err != nil {
		return store.Signer{}, err
	}
	caCert, err := x509.ParseCertificate(row.CertDER)
	if err != nil {
		return store.Signer{}, fmt.Errorf("CA certificate: %w", err)
	}
	caKey, err := r.Keys.Signer(ctx, row.KeyLabel)
	if err != nil {
		return store.Signer{}, fmt.Errorf("CA key %s: %w", row.KeyLabel, err)
	}
	alg, err := algorithmOf(oldCert.PublicKey)
	if err != nil {
		return store.Signer{}, err
	}
	label, err := r.newLabel(caID, now)
	if err != nil {
		return store.Signer{}, err
	}
	key, err := r.Keys.Generate(ctx, label, alg)
	if err != nil {
		return store.Signer{}, fmt.Errorf("generate key %s: %w", label, err)
	}
	fail := func(err error) (store.Signer, error) {
		return store.Signer{}, fmt.Errorf("%w (key %s left on the token, unused)", err, label)
	}
	serial, err := policy.NewSerial(r.rand())
	if err != nil {
		return fail(err)
	}
	links, err := policy.CALinks(r.PublicURL, caID)
	if err != nil {
		return fail(err)
	}
	tmpl, err := policy.OCSPSigner(policy.SignerParams{Subject: orgNameOf(oldCert), Serial: serial, PublicKey: key.Public(),
		NotBefore: now, NotAfter: now.Add(r.Validity), Issuer: caCert, IssuerLinks: links})
	if err != nil {
		return fail(err)
	}
	res, err := policy.NewLinter().PreIssue(tmpl, caCert, key.Public(), policy.KindOCSPSigner)
	if err != nil {
		return fail(fmt.Errorf("lint signer certificate: %w", err))
	}
	if err := res.Err(); err != nil {
		return fail(fmt.Errorf("signer certificate fails lint, not signed: %w", err))
	}
	der, err := x509.CreateCertificate(r.rand(), tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return fail(fmt.Errorf("sign signer certificate: %w", err))
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fail(err)
	}
	if err := cert.CheckSignatureFrom(caCert); err != nil {
		return fail(fmt.Errorf("HSM signature on the signer certificate does not verify: %w", err))
	}
	s := store.Signer{Role: store.SignerRoleOCSP, CAID: caID, KeyLabel: label, Serial: new(big.Int).Set(cert.SerialNumber),
		CertDER: der, NotAfter: cert.NotAfter}
	actor := r.Actor
	if actor == "" {
		actor = "muhrd"
	}
	fp := Fingerprint(der)
	err = r.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.ReserveSerial(ctx, store.SerialReservation{IssuerID: caID, Serial: s.Serial, Purpose: store.SignerRoleOCSP, ReservedAt: now}); err != nil {
			return fmt.Errorf("serial %x: %w", s.Serial, err)
		}
		if err := tx.InsertCertificate(ctx, store.Certificate{IssuerID: caID, Serial: s.Serial, Subject: policy.SubjectString(cert.RawSubject),
			Profile: store.SignerRoleOCSP, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, DER: der, Status: store.CertStatusValid}); err != nil {
			return fmt.Errorf("certificate %x: %w", s.Serial, err)
		}
		if err := tx.InsertSigner(ctx, s); err != nil {
			return fmt.Errorf("signer %s: %w", label, err)
		}
		for _, e := range []audit.Entry{
			{Actor: actor, Action: "key.generate", Object: "key/" + label,
				Details: map[string]any{"algorithm": string(alg), "sensitive": true, "extractable": false, "purpose": "ocsp signer renewal"}},
			{Actor: actor, Action: "cert.issue", Object: certObject(caID, s.Serial),
				Details: map[string]any{"role": store.SignerRoleOCSP, "profile": store.SignerRoleOCSP, "subject": policy.SubjectString(cert.RawSubject),
					"key_label": label, "sha256": fp, "not_after": cert.NotAfter.UTC().Format(time.RFC3339)}},
			{Actor: actor, Action: ActionOCSPSignerRenew, Object: "ca/" + caID,
				Details: map[string]any{"old_key_label": old.KeyLabel, "old_serial": old.Serial.Text(16), "old_not_after": old.NotAfter.UTC().Format(time.RFC3339),
					"new_key_label": label, "new_serial": s.Serial.Text(16), "new_not_after": cert.NotAfter.UTC().Format(time.RFC3339), "sha256": fp}},
		} {
			if _, err := audit.Append(ctx, tx, now, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fail(fmt.Errorf("store the renewed signer: %w", err))
	}
	return s, nil
}

// newLabel: the CA id, "-ocsp-", the UTC time and a random part (two
// processes renewing despite the lease must not collide on the token).
func (r *OCSPSignerRenewer) newLabel(caID string, now time.Time) (string, error) {
	b := make([]byte, 3)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return "", err
	}
	l := fmt.Sprintf("%s-ocsp-%s-%s", caID, now.UTC().Format("20060102T150405Z"), hex.EncodeToString(b))
	if len(l) > 63 {
		l = l[len(l)-63:]
	}
	return l, nil
}

func algorithmOf(pub crypto.PublicKey) (hsm.KeyAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return hsm.ECDSAP256, nil
		case elliptic.P384():
			return hsm.ECDSAP384, nil
		}
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return hsm.RSA2048, nil
		case 3072:
			return hsm.RSA3072, nil
		case 4096:
			return hsm.RSA4096, nil
		}
	}
	return "", fmt.Errorf("signer key %T is not one the center generates", pub)
}

var oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}

// orgNameOf reads back the name the ceremony gave the signer.
func orgNameOf(c *x509.Certificate) policy.OrgName {
	n := policy.OrgName{CommonName: c.Subject.CommonName}
	if len(c.Subject.Country) > 0 {
		n.Country = c.Subject.Country[0]
	}
	if len(c.Subject.Organization) > 0 {
		n.Organization = c.Subject.Organization[0]
	}
	for _, a := range c.Subject.Names {
		if a.Type.Equal(oidOrganizationIdentifier) {
			if s, ok := a.Value.(string); ok {
				n.OrganizationIdentifier = s
			}
		}
	}
	return n
}
