package ra

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/ca/csr"
	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
)

// The profiles a request may ask for at the counter.
var requestProfiles = []string{policy.ProfileQESPerson, policy.ProfileQSealOrg, policy.ProfileTLSServer}

// ParseSerial reads a serial as openssl x509 -serial prints it (hex, any
// case, optionally "serial=" and colons).
func ParseSerial(s string) (*big.Int, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "serial=")
	t = strings.ReplaceAll(t, ":", "")
	n, ok := new(big.Int).SetString(t, 16)
	if !ok || n.Sign() <= 0 || n.BitLen() > 160 || t == "" || strings.HasPrefix(t, "-") || strings.HasPrefix(t, "+") {
		return nil, fieldErr("serial", "%q is not a certificate serial in hex (as openssl x509 -serial prints it)", s)
	}
	return n, nil
}

// SerialHex is how the API writes a serial: uppercase hex as openssl
// x509 -serial prints it (even number of digits).
func SerialHex(n *big.Int) string {
	h := strings.ToUpper(n.Text(16))
	if len(h)%2 == 1 {
		h = "0" + h
	}
	return h
}

// csrDER turns a PEM or DER CSR into DER.
func csrDER(in string) ([]byte, error) {
	b := []byte(strings.TrimSpace(in))
	if len(b) == 0 {
		return nil, fieldErr("csr", "required (a PKCS#10 request in PEM)")
	}
	if blk, rest := pem.Decode(b); blk != nil {
		if blk.Type != "CERTIFICATE REQUEST" && blk.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fieldErr("csr", "PEM block %q is not a CERTIFICATE REQUEST", blk.Type)
		}
		if len(strings.TrimSpace(string(rest))) > 0 {
			return nil, fieldErr("csr", "data after the CERTIFICATE REQUEST block; send one request")
		}
		return blk.Bytes, nil
	}
	return nil, fieldErr("csr", "not PEM; send the request as -----BEGIN CERTIFICATE REQUEST-----")
}

func identityOf(sub store.Subscriber, dns []string) policy.Identity {
	id := policy.Identity{Kind: policy.IdentityKind(sub.Kind), DNSNames: dns}
	if sub.Kind == store.SubscriberPerson {
		id.Person = policy.Person{Surname: sub.Surname, GivenName: sub.GivenName, Patronymic: sub.Patronymic,
			PersonalNumber: sub.PersonalNumber, Country: sub.Country}
	} else {
		id.Organization = policy.Organization{Name: sub.OrgName, RegistrationNumber: sub.RegistrationNumber,
			TaxNumber: sub.TaxNumber, Country: sub.Country}
	}
	return id
}

// caFor picks the active CA with an issuer here that may issue profile.
func (s *Service) caFor(ctx context.Context, profile string) (string, Issuer, error) {
	prof, err := policy.ProfileByName(profile)
	if err != nil {
		return "", nil, fieldErr("profile", "%v", err)
	}
	cas, err := s.st.ListCAs(ctx)
	if err != nil {
		return "", nil, err
	}
	for _, c := range cas {
		iss, ok := s.o.Issuers[c.ID]
		if ok && c.Status == store.CAStatusActive && prof.AllowedIssuer(policy.IssuerKindDER(c.Kind, c.CertDER)) {
			return c.ID, iss, nil
		}
	}
	return "", nil, &Error{Kind: errkind.Unavailable, Field: "profile", Msg: fmt.Sprintf("profile: no CA of this center issues %s here", profile)}
}

// qscdOK says whether the evidence shows a key generated on the device
// and never extractable.
func qscdOK(q *QSCDEvidence) error {
	switch {
	case !q.Local:
		return fieldErr("qscd", "the key was not generated on the device (local is false); a QSCD certificate needs a key made on the card")
	case q.Extractable:
		return fieldErr("qscd", "the key is extractable; a QSCD key must never leave the device")
	case !q.Sensitive:
		return fieldErr("qscd", "the key is not sensitive; a QSCD key must be CKA_SENSITIVE")
	case q.TokenSerial == "":
		return fieldErr("qscd.token_serial", "required: the serial of the device the key was generated on")
	}
	return nil
}

// intakeErr says what to fix when the issuer's checks refuse a request.
func intakeErr(err error) error {
	msg := strings.TrimPrefix(err.Error(), "issuer: request refused: ")
	var ie *policy.IdentityError
	switch {
	case errors.Is(err, ca.ErrKeyReused):
		return &Error{Kind: errkind.Conflict, Field: "csr", Msg: "csr: " + msg, Err: err}
	case errors.Is(err, csr.ErrMalformed), errors.Is(err, csr.ErrBadSignature), errors.Is(err, csr.ErrWeakSignatureAlgorithm),
		errors.Is(err, csr.ErrKeyType), errors.Is(err, csr.ErrWeakKey), errors.Is(err, csr.ErrInvalidKey), errors.Is(err, csr.ErrKeyIsCAKey):
		return &Error{Kind: errkind.Invalid, Field: "csr", Msg: msg + "; ask the applicant for a new CSR", Err: err}
	case errors.As(err, &ie):
		return &Error{Kind: errkind.Invalid, Field: ie.Field, Msg: msg, Err: err}
	case errors.Is(err, ca.ErrWrongIssuer), errors.Is(err, policy.ErrProfileConfig), errors.Is(err, policy.ErrUnknownProfile):
		return &Error{Kind: errkind.Invalid, Field: "profile", Msg: msg, Err: err}
	case errors.Is(err, ca.ErrLint):
		return &Error{Kind: errkind.Invalid, Msg: "the certificate would fail pre-issuance checks: " + msg, Err: err}
	}
	return err
}

// Submit records a request after the issuer's intake checks (CSR, key,
// profile, identity, lint) pass, so a bad CSR is refused at the counter.
func (s *Service) Submit(ctx context.Context, who store.Officer, in RequestInput) (Request, error) {
	if err := s.authorize(ctx, who, ActRequestSubmit, "subscriber/"+in.SubscriberID); err != nil {
		return Request{}, err
	}
	if in.SubscriberID == "" {
		return Request{}, fieldErr("subscriber_id", "required")
	}
	if !slices.Contains(requestProfiles, in.Profile) {
		return Request{}, fieldErr("profile", "%q is not one of %s", in.Profile, strings.Join(requestProfiles, ", "))
	}
	sub, err := s.st.GetSubscriber(ctx, in.SubscriberID)
	if errors.Is(err, store.ErrNotFound) {
		return Request{}, fieldErr("subscriber_id", "no subscriber %s; register them first", in.SubscriberID)
	}
	if err != nil {
		return Request{}, err
	}
	want := store.SubscriberOrganization
	if in.Profile == policy.ProfileQESPerson {
		want = store.SubscriberPerson
	}
	if sub.Kind != want {
		return Request{}, fieldErr("profile", "%s is for a %s; subscriber %s is a %s", in.Profile, want, sub.ID, sub.Kind)
	}
	if len(in.DNSNames) > 0 && in.Profile != policy.ProfileTLSServer {
		return Request{}, fieldErr("dns_names", "only a tls-server request names DNS names")
	}
	if in.Profile == policy.ProfileTLSServer && len(in.DNSNames) == 0 {
		return Request{}, fieldErr("dns_names", "required for tls-server: the validated names of the system")
	}
	der, err := csrDER(in.CSR)
	if err != nil {
		return Request{}, err
	}
	r := store.CertRequest{SubscriberID: sub.ID, Profile: in.Profile, Kind: in.Kind, CSRDER: der, DNSNames: in.DNSNames,
		SubmittedBy: who.Name, SubmittedAt: s.now()}
	switch in.Kind {
	case "", store.RequestNew:
		r.Kind = store.RequestNew
		if in.RenewsSerial != "" {
			return Request{}, fieldErr("renews_serial", "only for kind renew or rekey")
		}
	case store.RequestRenew, store.RequestRekey:
		if err := s.renewal(ctx, &r, in.RenewsSerial); err != nil {
			return Request{}, err
		}
	default:
		return Request{}, fieldErr("kind", "%q is not new, renew or rekey", in.Kind)
	}
	if in.QSCD != nil {
		if in.Profile == policy.ProfileTLSServer {
			return Request{}, fieldErr("qscd", "only qualified signature and seal certificates are QSCD")
		}
		if err := qscdOK(in.QSCD); err != nil {
			return Request{}, err
		}
		if r.QSCDEvidence, err = json.Marshal(in.QSCD); err != nil {
			return Request{}, err
		}
		r.QSCD = true
	}
	caID, iss, err := s.caFor(ctx, in.Profile)
	if err != nil {
		return Request{}, err
	}
	r.CAID = caID
	if r.ID, err = s.newID("r-"); err != nil {
		return Request{}, err
	}
	// The intake checks: everything issuance checks, nothing stored.
	if _, err := iss.Prepare(ctx, s.caRequest(r, sub, who)); err != nil {
		return Request{}, intakeErr(err)
	}
	err = s.inTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.InsertRequest(ctx, r); err != nil {
			return err
		}
		d := map[string]any{"subscriber": sub.ID, "profile": r.Profile, "kind": r.Kind, "qscd": r.QSCD, "ca": r.CAID}
		if r.RenewsSerial != nil {
			d["renews"] = SerialHex(r.RenewsSerial)
		}
		if r.QSCD {
			d["qscd_evidence"] = json.RawMessage(r.QSCDEvidence)
		}
		return s.appendAudit(ctx, tx, Actor(who), "request.submit", "request/"+r.ID, d)
	})
	if err != nil {
		return Request{}, err
	}
	return s.requestView(ctx, r)
}

// renewal checks that the certificate renewed or re-keyed belongs to the
// same subscriber.
func (s *Service) renewal(ctx context.Context, r *store.CertRequest, serial string) error {
	if serial == "" {
		return fieldErr("renews_serial", "required for kind %s: the serial of the certificate it replaces", r.Kind)
	}
	n, err := ParseSerial(serial)
	if err != nil {
		return fieldErr("renews_serial", "%q is not a serial in hex", serial)
	}
	certs, err := s.st.CertificatesBySerial(ctx, n)
	if err != nil {
		return err
	}
	for _, c := range certs {
		old, err := s.st.RequestByCertificate(ctx, c.IssuerID, c.Serial)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if old.SubscriberID != r.SubscriberID {
			return fieldErr("renews_serial", "certificate %s belongs to subscriber %s, not %s", SerialHex(n), old.SubscriberID, r.SubscriberID)
		}
		r.RenewsIssuerID, r.RenewsSerial = c.IssuerID, c.Serial
		return nil
	}
	return fieldErr("renews_serial", "no certificate %s issued through a request here", SerialHex(n))
}

// caRequest is what the issuer gets: the same for every approval of a
// request, so its request id names one certificate.
func (s *Service) caRequest(r store.CertRequest, sub store.Subscriber, who store.Officer) ca.Request {
	return ca.Request{ID: r.ID, Profile: r.Profile, CSR: r.CSRDER, Identity: identityOf(sub, r.DNSNames), QSCD: r.QSCD, Actor: Actor(who)}
}

func (s *Service) requestView(ctx context.Context, r store.CertRequest) (Request, error) {
	v := Request{ID: r.ID, SubscriberID: r.SubscriberID, Profile: r.Profile, Kind: r.Kind, DNSNames: r.DNSNames, Status: r.Status,
		QSCD: r.QSCD, QSCDEvidence: r.QSCDEvidence, CAID: r.CAID, SubmittedBy: r.SubmittedBy, DecidedBy: r.DecidedBy, Reason: r.Reason,
		CreatedAt: r.SubmittedAt, DecidedAt: r.DecidedAt}
	if v.Status == "" {
		v.Status = store.RequestPending
	}
	if r.RenewsSerial != nil {
		v.RenewsSerial = SerialHex(r.RenewsSerial)
	}
	if r.Serial != nil {
		v.Serial = SerialHex(r.Serial)
		c, err := s.st.GetCertificate(ctx, r.IssuerID, r.Serial)
		if err != nil {
			return Request{}, err
		}
		v.Certificate = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER}))
	}
	return v, nil
}

func (s *Service) getRequest(ctx context.Context, id string) (store.CertRequest, error) {
	r, err := s.st.GetRequest(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return r, notFound("no request %s", id)
	}
	return r, err
}

// GetRequest returns one request (with its certificate once issued).
func (s *Service) GetRequest(ctx context.Context, who store.Officer, id string) (Request, error) {
	if err := s.authorize(ctx, who, ActRequestRead, "request/"+id); err != nil {
		return Request{}, err
	}
	r, err := s.getRequest(ctx, id)
	if err != nil {
		return Request{}, err
	}
	return s.requestView(ctx, r)
}

// ListRequests lists requests by status and subscriber.
func (s *Service) ListRequests(ctx context.Context, who store.Officer, status, subscriber string) ([]Request, error) {
	if err := s.authorize(ctx, who, ActRequestRead, "request"); err != nil {
		return nil, err
	}
	if status != "" && !slices.Contains([]string{store.RequestPending, store.RequestRejected, store.RequestIssued, store.RequestFailed}, status) {
		return nil, fieldErr("status", "%q is not pending, rejected, issued or failed", status)
	}
	list, err := s.st.ListRequests(ctx, store.RequestFilter{Status: status, SubscriberID: subscriber, Limit: 500})
	if err != nil {
		return nil, err
	}
	out := []Request{}
	for _, r := range list {
		v, err := s.requestView(ctx, r)
		if err != nil {
			return nil, err
		}
		v.Certificate = "" // lists stay small; GET the request for it
		out = append(out, v)
	}
	return out, nil
}

// decided refuses a decision on a request in a final state, naming it.
func decided(r store.CertRequest) error {
	switch r.Status {
	case store.RequestIssued:
		return stateErr(r.Status, "request %s is issued already (serial %s, approved by %s); nothing to do", r.ID, SerialHex(r.Serial), r.DecidedBy)
	case store.RequestRejected:
		return stateErr(r.Status, "request %s was rejected by %s (%s); submit a new request", r.ID, r.DecidedBy, r.Reason)
	}
	return nil
}

// Approve decides a pending (or failed) request and issues its
// certificate. The approver may not be the submitter. Approving again
// while it is issued is refused with its state; approving again after a
// crash between the decision and the certificate finishes the issuance
// (the issuer knows the request id) without a second certificate.
func (s *Service) Approve(ctx context.Context, who store.Officer, id string) (Request, error) {
	if err := s.authorize(ctx, who, ActRequestApprove, "request/"+id); err != nil {
		return Request{}, err
	}
	r, err := s.getRequest(ctx, id)
	if err != nil {
		return Request{}, err
	}
	if err := decided(r); err != nil {
		return Request{}, err
	}
	if r.SubmittedBy == who.Name {
		return Request{}, s.selfDecision(ctx, who, r, "approve")
	}
	claimed := false
	if r.Status == store.RequestFailed || r.DecidedBy == "" {
		err = s.inTx(ctx, func(ctx context.Context, tx Tx) error {
			if err := tx.ClaimRequest(ctx, r.ID, who.Name, s.now()); err != nil {
				return err
			}
			return s.appendAudit(ctx, tx, Actor(who), "request.approve", "request/"+r.ID,
				map[string]any{"submitted_by": r.SubmittedBy, "profile": r.Profile, "retry": r.Status == store.RequestFailed})
		})
		switch {
		case errors.Is(err, store.ErrStateChanged):
			// Another approval won; follow it.
		case err != nil:
			return Request{}, err
		default:
			claimed = true
		}
		if r, err = s.getRequest(ctx, id); err != nil {
			return Request{}, err
		}
		if err := decided(r); err != nil {
			return Request{}, err
		}
	}
	if !claimed && r.Status == store.RequestFailed {
		return Request{}, stateErr(r.Status, "request %s failed (%s); approve it again to retry", r.ID, r.Reason)
	}
	return s.issue(ctx, who, r)
}

// selfDecision refuses (and audits) an officer deciding their own request.
func (s *Service) selfDecision(ctx context.Context, who store.Officer, r store.CertRequest, what string) error {
	err := s.inTx(ctx, func(ctx context.Context, tx Tx) error {
		return s.appendAudit(ctx, tx, Actor(who), "officer.forbidden", "request/"+r.ID,
			map[string]any{"action": "request." + what, "reason": "four eyes: the submitter may not decide"})
	})
	if err != nil {
		return err
	}
	return forbidden("forbidden: %s submitted request %s and may not %s it; another approver must", who.Name, r.ID, what)
}

// issue has the issuer make the request's certificate and records it; an
// issuance that fails marks the request failed with the reason.
func (s *Service) issue(ctx context.Context, who store.Officer, r store.CertRequest) (Request, error) {
	iss, ok := s.o.Issuers[r.CAID]
	if !ok {
		return Request{}, &Error{Kind: errkind.Unavailable, Msg: fmt.Sprintf("CA %s does not issue in this process", r.CAID)}
	}
	sub, err := s.st.GetSubscriber(ctx, r.SubscriberID)
	if err != nil {
		return Request{}, err
	}
	cert, err := iss.IssueRequest(ctx, s.caRequest(r, sub, who))
	if errors.Is(err, ca.ErrInProgress) {
		return Request{}, stateErr(store.RequestPending, "request %s is being issued right now; look at it again in a moment", r.ID)
	}
	if err != nil {
		reason := strings.TrimPrefix(err.Error(), "issuer: ")
		ferr := s.inTx(context.WithoutCancel(ctx), func(ctx context.Context, tx Tx) error {
			if err := tx.FailRequest(ctx, r.ID, reason, s.now()); err != nil {
				return err
			}
			return s.appendAudit(ctx, tx, Actor(who), "request.fail", "request/"+r.ID, map[string]any{"reason": reason})
		})
		if ferr != nil && !errors.Is(ferr, store.ErrStateChanged) {
			s.o.Log.Error("ra: record failed issuance", "request", r.ID, "err", ferr.Error())
		}
		return Request{}, fmt.Errorf("request %s failed: %w (approve it again to retry)", r.ID, err)
	}
	issuerID := r.CAID
	err = s.inTx(context.WithoutCancel(ctx), func(ctx context.Context, tx Tx) error {
		if err := tx.IssueRequest(ctx, r.ID, issuerID, cert.SerialNumber, s.now()); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, Actor(who), "request.issued", "request/"+r.ID,
			map[string]any{"serial": SerialHex(cert.SerialNumber), "ca": issuerID, "approved_by": r.DecidedBy})
	})
	if err != nil && !errors.Is(err, store.ErrStateChanged) {
		return Request{}, err
	}
	done, err := s.getRequest(ctx, r.ID)
	if err != nil {
		return Request{}, err
	}
	if done.Status != store.RequestIssued || done.Serial.Cmp(cert.SerialNumber) != 0 {
		return Request{}, fmt.Errorf("ra: request %s is %s after issuing serial %s", r.ID, done.Status, SerialHex(cert.SerialNumber))
	}
	return s.requestView(ctx, done)
}

// Reject decides a pending (or failed) request with a reason.
func (s *Service) Reject(ctx context.Context, who store.Officer, id, reason string) (Request, error) {
	if err := s.authorize(ctx, who, ActRequestReject, "request/"+id); err != nil {
		return Request{}, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 1000 {
		return Request{}, fieldErr("reason", "say why the request is rejected (1 to 1000 bytes)")
	}
	r, err := s.getRequest(ctx, id)
	if err != nil {
		return Request{}, err
	}
	if err := decided(r); err != nil {
		return Request{}, err
	}
	if r.SubmittedBy == who.Name {
		return Request{}, s.selfDecision(ctx, who, r, "reject")
	}
	err = s.inTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.RejectRequest(ctx, r.ID, who.Name, reason, s.now()); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, Actor(who), "request.reject", "request/"+r.ID, map[string]any{"reason": reason})
	})
	if errors.Is(err, store.ErrStateChanged) {
		cur, gerr := s.getRequest(ctx, id)
		if gerr != nil {
			return Request{}, gerr
		}
		if derr := decided(cur); derr != nil {
			return Request{}, derr
		}
		return Request{}, stateErr(cur.Status, "request %s was approved by %s and is being issued; it cannot be rejected now", id, cur.DecidedBy)
	}
	if err != nil {
		return Request{}, err
	}
	return s.GetRequestUnchecked(ctx, id)
}

// GetRequestUnchecked returns a request view without authorization (for
// the service's own answers after a change).
func (s *Service) GetRequestUnchecked(ctx context.Context, id string) (Request, error) {
	r, err := s.getRequest(ctx, id)
	if err != nil {
		return Request{}, err
	}
	return s.requestView(ctx, r)
}
