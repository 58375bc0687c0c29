package ra

import (
	"context"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"regexp"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
)

// officerName is a login name: what the audit log and requests show.
var officerName = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,63}$`)

// managementIssuer is the issuer of officer certificates.
func (s *Service) managementIssuer(ctx context.Context) (string, Issuer, error) {
	cas, err := s.st.ListCAs(ctx)
	if err != nil {
		return "", nil, err
	}
	for _, c := range cas {
		if iss, ok := s.o.Issuers[c.ID]; ok && c.Kind == store.CAKindManagement && c.Status == store.CAStatusActive {
			return c.ID, iss, nil
		}
	}
	return "", nil, &Error{Kind: errkind.Unavailable, Msg: "the management CA does not issue in this process"}
}

// officerIdentity is the person the officer certificate names. Without
// one given, the officer is named by login name: surname the name,
// givenName "Officer", and a personal number derived from the name (the
// management CA is internal; relying parties are muhrd alone).
func (s *Service) officerIdentity(in OfficerInput) (policy.Identity, error) {
	if in.Person != nil {
		p, err := s.person(in.Person)
		if err != nil {
			return policy.Identity{}, err
		}
		return policy.Identity{Kind: policy.IdentityPerson, Person: p}, nil
	}
	h := sha256.Sum256([]byte("muhr-officer\x00" + in.Name))
	n := new(big.Int).SetBytes(h[:8])
	num := fmt.Sprintf("9%011d", new(big.Int).Mod(n, big.NewInt(1e11)))
	return policy.Identity{Kind: policy.IdentityPerson, Person: policy.Person{Surname: in.Name, GivenName: "Officer",
		PersonalNumber: num, Country: "TJ"}}, nil
}

// AddOfficer issues an officer's client certificate from the management
// CA (profile officer, from the CSR in the input) and records the officer.
func (s *Service) AddOfficer(ctx context.Context, who store.Officer, in OfficerInput) (Officer, error) {
	if err := s.authorize(ctx, who, ActOfficerAdd, "officer"); err != nil {
		return Officer{}, err
	}
	return s.CreateOfficer(ctx, Actor(who), who.Name, in)
}

// CreateOfficer is AddOfficer without an officer calling: `muhr officer
// bootstrap` creates the first officers locally with it, audited as actor.
func (s *Service) CreateOfficer(ctx context.Context, actor, createdBy string, in OfficerInput) (Officer, error) {
	if !officerName.MatchString(in.Name) {
		return Officer{}, fieldErr("name", "%q is not a login name (lowercase letter, then letters, digits . _ -; at most 64)", in.Name)
	}
	roles, err := ParseRoles(in.Roles)
	if err != nil {
		return Officer{}, err
	}
	der, err := csrDER(in.CSR)
	if err != nil {
		return Officer{}, err
	}
	id, err := s.officerIdentity(in)
	if err != nil {
		return Officer{}, err
	}
	all, err := s.st.ListOfficers(ctx)
	if err != nil {
		return Officer{}, err
	}
	for _, o := range all {
		if o.Name == in.Name {
			return Officer{}, &Error{Kind: errkind.Conflict, Field: "name", Msg: fmt.Sprintf("name: officer %s exists already (%s)", in.Name, o.ID)}
		}
	}
	caID, iss, err := s.managementIssuer(ctx)
	if err != nil {
		return Officer{}, err
	}
	oid, err := s.newID("o-")
	if err != nil {
		return Officer{}, err
	}
	cert, err := iss.IssueRequest(ctx, ca.Request{ID: "officer-" + oid, Profile: policy.ProfileOfficer, CSR: der, Identity: id, Actor: actor})
	if err != nil {
		return Officer{}, intakeErr(err)
	}
	o := store.Officer{ID: oid, Name: in.Name, CertSHA256: Fingerprint(cert.Raw), CertIssuerID: caID, CertSerial: cert.SerialNumber,
		CertDER: cert.Raw, Roles: roles, Active: true, CreatedAt: s.now(), CreatedBy: createdBy}
	err = s.inTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.InsertOfficer(ctx, o); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "officer.add", "officer/"+o.ID, map[string]any{"name": o.Name, "roles": roles,
			"fingerprint": o.CertSHA256, "serial": SerialHex(cert.SerialNumber), "ca": caID})
	})
	if errors.Is(err, store.ErrExists) {
		return Officer{}, &Error{Kind: errkind.Conflict, Field: "name", Msg: "name: an officer with this name or certificate exists already", Err: err}
	}
	if err != nil {
		return Officer{}, err
	}
	v := OfficerView(o)
	v.Certificate = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	return v, nil
}

// ListOfficers lists every officer.
func (s *Service) ListOfficers(ctx context.Context, who store.Officer) ([]Officer, error) {
	if err := s.authorize(ctx, who, ActOfficerList, "officer"); err != nil {
		return nil, err
	}
	all, err := s.st.ListOfficers(ctx)
	if err != nil {
		return nil, err
	}
	out := []Officer{}
	for _, o := range all {
		out = append(out, OfficerView(o))
	}
	return out, nil
}

// DeactivateOfficer refuses the officer from the next request on.
func (s *Service) DeactivateOfficer(ctx context.Context, who store.Officer, id string) (Officer, error) {
	if err := s.authorize(ctx, who, ActOfficerDeactivate, "officer/"+id); err != nil {
		return Officer{}, err
	}
	if id == who.ID {
		return Officer{}, forbidden("forbidden: an administrator may not deactivate themselves; ask another admin")
	}
	err := s.inTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.DeactivateOfficer(ctx, id, who.Name, s.now()); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, Actor(who), "officer.deactivate", "officer/"+id, map[string]any{})
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Officer{}, notFound("no officer %s", id)
	case errors.Is(err, store.ErrStateChanged):
		return Officer{}, stateErr("inactive", "officer %s is deactivated already", id)
	case err != nil:
		return Officer{}, err
	}
	o, err := s.st.GetOfficer(ctx, id)
	if err != nil {
		return Officer{}, err
	}
	return OfficerView(o), nil
}
