package ra

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/store"
)

func (s *Service) certView(ctx context.Context, c store.Certificate) (Certificate, error) {
	v := Certificate{Serial: SerialHex(c.Serial), Profile: c.Profile, NotBefore: c.NotBefore, NotAfter: c.NotAfter, Subject: c.Subject,
		IssuerCA: c.IssuerID, Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER}))}
	switch c.Status {
	case store.CertStatusValid:
		v.Status = CertGood
	case store.CertStatusOnHold:
		v.Status = CertSuspended
	default:
		v.Status = CertRevoked
	}
	if c.RevokedAt != nil {
		rv := &Revocation{Time: *c.RevokedAt, InvalidityDate: c.InvalidityDate, Reason: "unspecified"}
		if c.RevocationReason != nil {
			if *c.RevocationReason == store.ReasonCertificateHold {
				rv.Reason = "certificateHold"
			} else {
				rv.Reason = ca.Reason(*c.RevocationReason).String()
			}
		}
		v.Revocation = rv
	}
	r, err := s.st.RequestByCertificate(ctx, c.IssuerID, c.Serial)
	switch {
	case err == nil:
		v.SubscriberID, v.RequestID = r.SubscriberID, r.ID
	case !errors.Is(err, store.ErrNotFound):
		return Certificate{}, err
	}
	return v, nil
}

// findCert finds the one end-entity certificate with this serial.
func (s *Service) findCert(ctx context.Context, serial string) (store.Certificate, error) {
	n, err := ParseSerial(serial)
	if err != nil {
		return store.Certificate{}, err
	}
	certs, err := s.st.CertificatesBySerial(ctx, n)
	if err != nil {
		return store.Certificate{}, err
	}
	switch len(certs) {
	case 0:
		return store.Certificate{}, notFound("no certificate with serial %s", SerialHex(n))
	case 1:
		return certs[0], nil
	}
	return store.Certificate{}, &Error{Kind: errkind.Conflict, Field: "serial",
		Msg: fmt.Sprintf("serial %s is used by %d CAs' certificates; ask an administrator", SerialHex(n), len(certs))}
}

// GetCertificate returns a certificate by serial.
func (s *Service) GetCertificate(ctx context.Context, who store.Officer, serial string) (Certificate, error) {
	if err := s.authorize(ctx, who, ActCertRead, "cert/"+serial); err != nil {
		return Certificate{}, err
	}
	c, err := s.findCert(ctx, serial)
	if err != nil {
		return Certificate{}, err
	}
	return s.certView(ctx, c)
}

// ListCertificates lists the certificates issued to a subscriber.
func (s *Service) ListCertificates(ctx context.Context, who store.Officer, subscriberID string) ([]Certificate, error) {
	if err := s.authorize(ctx, who, ActCertRead, "subscriber/"+subscriberID); err != nil {
		return nil, err
	}
	if subscriberID == "" {
		return nil, fieldErr("subscriber", "required: the subscriber whose certificates to list")
	}
	reqs, err := s.st.ListRequests(ctx, store.RequestFilter{SubscriberID: subscriberID, Status: store.RequestIssued, Limit: 500})
	if err != nil {
		return nil, err
	}
	out := []Certificate{}
	for _, r := range reqs {
		c, err := s.st.GetCertificate(ctx, r.IssuerID, r.Serial)
		if err != nil {
			return nil, err
		}
		v, err := s.certView(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Service) revoker() (Revoker, error) {
	if s.o.Revoker == nil {
		return nil, &Error{Kind: errkind.Unavailable, Msg: "revocation is not served by this process"}
	}
	return s.o.Revoker, nil
}

// statusErr adds the certificate's current state to a revoker's refusal.
func (s *Service) statusErr(ctx context.Context, c store.Certificate, err error) error {
	if errkind.Of(err) != errkind.Conflict {
		return err
	}
	cur, gerr := s.st.GetCertificate(ctx, c.IssuerID, c.Serial)
	if gerr != nil {
		return err
	}
	v, gerr := s.certView(ctx, cur)
	if gerr != nil {
		return err
	}
	return &Error{Kind: errkind.Conflict, State: v.Status, Msg: err.Error(), Err: err}
}

func (s *Service) afterChange(ctx context.Context, c store.Certificate) (Certificate, error) {
	cur, err := s.st.GetCertificate(ctx, c.IssuerID, c.Serial)
	if err != nil {
		return Certificate{}, err
	}
	return s.certView(ctx, cur)
}

// Revoke revokes a certificate for good (a registrar alone may).
func (s *Service) Revoke(ctx context.Context, who store.Officer, serial, reason string, compromise *time.Time) (Certificate, error) {
	if err := s.authorize(ctx, who, ActCertRevoke, "cert/"+serial); err != nil {
		return Certificate{}, err
	}
	rv, err := s.revoker()
	if err != nil {
		return Certificate{}, err
	}
	if reason == "" {
		return Certificate{}, fieldErr("reason", "required: one of %s", ca.ReasonNames)
	}
	rs, err := ca.ParseReason(reason)
	if err != nil {
		return Certificate{}, &Error{Kind: errkind.Invalid, Field: "reason", Msg: "reason: " + err.Error(), Err: err}
	}
	c, err := s.findCert(ctx, serial)
	if err != nil {
		return Certificate{}, err
	}
	if _, err := rv.Revoke(ctx, c.IssuerID, c.Serial, rs, compromise, Actor(who)); err != nil {
		if errors.Is(err, ca.ErrCompromiseTime) {
			return Certificate{}, &Error{Kind: errkind.Invalid, Field: "compromise_time", Msg: err.Error(), Err: err}
		}
		return Certificate{}, s.statusErr(ctx, c, err)
	}
	return s.afterChange(ctx, c)
}

// Suspend puts a certificate on hold. With a passphrase, the subscriber's
// revocation passphrase is checked (Argon2id), failures rate-limited per
// certificate in the database, and every attempt audited.
func (s *Service) Suspend(ctx context.Context, who store.Officer, serial, passphrase string) (Certificate, error) {
	if err := s.authorize(ctx, who, ActCertSuspend, "cert/"+serial); err != nil {
		return Certificate{}, err
	}
	rv, err := s.revoker()
	if err != nil {
		return Certificate{}, err
	}
	c, err := s.findCert(ctx, serial)
	if err != nil {
		return Certificate{}, err
	}
	if passphrase != "" {
		if err := s.checkPassphrase(ctx, who, c, passphrase); err != nil {
			return Certificate{}, err
		}
	}
	if _, err := rv.Suspend(ctx, c.IssuerID, c.Serial, Actor(who)); err != nil {
		return Certificate{}, s.statusErr(ctx, c, err)
	}
	return s.afterChange(ctx, c)
}

// checkPassphrase verifies pass against the subscriber's hash under the
// rate limit.
func (s *Service) checkPassphrase(ctx context.Context, who store.Officer, c store.Certificate, pass string) error {
	obj := "cert/" + c.IssuerID + "/" + c.Serial.Text(16)
	since := s.now().Add(-s.o.PassphraseWindow)
	max := s.o.PassphraseMaxFailures
	tooMany := func() error {
		return forbidden("forbidden: too many attempts; wait %d minutes (at most %d wrong passphrases per certificate in %v)",
			int(s.o.PassphraseWindow.Minutes()), max, s.o.PassphraseWindow)
	}
	refuse := func(reason string) error {
		return s.inTx(ctx, func(ctx context.Context, tx Tx) error {
			return s.appendAudit(ctx, tx, Actor(who), "cert.passphrase.refused", obj, map[string]any{"reason": reason})
		})
	}
	n, err := s.st.PassphraseFailures(ctx, c.IssuerID, c.Serial, since)
	if err != nil {
		return err
	}
	if n >= max {
		if err := refuse("rate limit"); err != nil {
			return err
		}
		return tooMany()
	}
	hash := ""
	if r, err := s.st.RequestByCertificate(ctx, c.IssuerID, c.Serial); err == nil {
		sub, err := s.st.GetSubscriber(ctx, r.SubscriberID)
		if err != nil {
			return err
		}
		hash = sub.PassphraseHash
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if hash == "" {
		if err := refuse("no passphrase registered"); err != nil {
			return err
		}
		return forbidden("forbidden: the subscriber registered no revocation passphrase; suspend without one after checking identity")
	}
	ok, err := VerifyPassphrase(hash, pass)
	if err != nil {
		return err
	}
	limited := false
	err = s.inTx(ctx, func(ctx context.Context, tx Tx) error {
		// Attempts on one certificate queue here, so the count holds
		// across processes.
		if err := tx.LockCertificate(ctx, c.IssuerID, c.Serial); err != nil {
			return err
		}
		n, err := tx.PassphraseFailures(ctx, c.IssuerID, c.Serial, since)
		if err != nil {
			return err
		}
		if n >= max {
			limited = true
			return s.appendAudit(ctx, tx, Actor(who), "cert.passphrase.refused", obj, map[string]any{"reason": "rate limit"})
		}
		if err := tx.InsertPassphraseAttempt(ctx, c.IssuerID, c.Serial, who.Name, ok, s.now()); err != nil {
			return err
		}
		action := "cert.passphrase.ok"
		if !ok {
			action = "cert.passphrase.wrong"
		}
		return s.appendAudit(ctx, tx, Actor(who), action, obj, map[string]any{"failures_in_window": n + map[bool]int{true: 0, false: 1}[ok]})
	})
	switch {
	case err != nil:
		return err
	case limited:
		return tooMany()
	case !ok:
		return forbidden("forbidden: the passphrase does not match the one the subscriber registered")
	}
	return nil
}

// Resume lifts a hold.
func (s *Service) Resume(ctx context.Context, who store.Officer, serial string) (Certificate, error) {
	if err := s.authorize(ctx, who, ActCertResume, "cert/"+serial); err != nil {
		return Certificate{}, err
	}
	rv, err := s.revoker()
	if err != nil {
		return Certificate{}, err
	}
	c, err := s.findCert(ctx, serial)
	if err != nil {
		return Certificate{}, err
	}
	if _, err := rv.Resume(ctx, c.IssuerID, c.Serial, Actor(who)); err != nil {
		return Certificate{}, s.statusErr(ctx, c, err)
	}
	return s.afterChange(ctx, c)
}
