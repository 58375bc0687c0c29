package ra

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
)

var (
	phonePattern   = regexp.MustCompile(`^\+?[0-9][0-9 ()-]{4,22}$`)
	hex64          = regexp.MustCompile(`^[0-9a-f]{64}$`)
	docTypePat     = regexp.MustCompile(`^[a-z][a-z0-9_-]{1,31}$`)
	docNumberPat   = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} /.-]{0,39}$`)
	fileNameUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]`)
)

// Limits of registration input.
const (
	minPassphrase = 8
	maxPassphrase = 1024
	maxEvidence   = 768 << 10 // a scan within the 1 MiB body (base64 inflates 4/3)
)

// identityField maps a policy refusal onto the API field it names.
func identityField(err error) error {
	var ie *policy.IdentityError
	if errors.As(err, &ie) {
		return fieldErr(ie.Field, "%s", strings.TrimPrefix(ie.Error(), "identity "+ie.Field+": "))
	}
	return fieldErr("(identity)", "%v", err)
}

func checkEmail(e string) error {
	if e == "" {
		return nil
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return fieldErr("email", "%q is not an e-mail address like name@example.tj", e)
	}
	return nil
}

func checkPhone(p string) error {
	if p == "" || phonePattern.MatchString(p) {
		return nil
	}
	return fieldErr("phone", "%q is not a phone number (digits, spaces, ( ) -, an optional leading +)", p)
}

func (s *Service) person(p *PersonInput) (policy.Person, error) {
	if p == nil {
		return policy.Person{}, fieldErr("person", "required for kind person")
	}
	pp := policy.Person{Surname: policy.NFC(p.Surname), GivenName: policy.NFC(p.GivenName), Patronymic: policy.NFC(p.Patronymic),
		PersonalNumber: p.PersonalNumber, Country: p.Country}
	for _, f := range []struct{ name, v string }{{"surname", pp.Surname}, {"given_name", pp.GivenName}, {"personal_number", pp.PersonalNumber}, {"country", pp.Country}} {
		if f.v == "" {
			return policy.Person{}, fieldErr(f.name, "required")
		}
	}
	if err := pp.Validate(s.o.Rules); err != nil {
		return policy.Person{}, identityField(err)
	}
	if err := checkEmail(p.Email); err != nil {
		return policy.Person{}, err
	}
	return pp, checkPhone(p.Phone)
}

func (s *Service) organization(o *OrganizationInput) (policy.Organization, error) {
	if o == nil {
		return policy.Organization{}, fieldErr("organization", "required for kind organization")
	}
	po := policy.Organization{Name: policy.NFC(o.Name), RegistrationNumber: o.RegistrationNumber, TaxNumber: o.TaxNumber, Country: o.Country}
	for _, f := range []struct{ name, v string }{{"name", po.Name}, {"registration_number", po.RegistrationNumber}, {"tax_number", po.TaxNumber}, {"country", po.Country}} {
		if f.v == "" {
			return policy.Organization{}, fieldErr(f.name, "required")
		}
	}
	if err := po.Validate(s.o.Rules); err != nil {
		return policy.Organization{}, identityField(err)
	}
	return po, nil
}

// evidence checks the document and, when a scan is sent, its hash.
func (s *Service) evidence(e *EvidenceInput) (store.Evidence, []byte, error) {
	if e == nil {
		return store.Evidence{}, nil, nil
	}
	if !docTypePat.MatchString(e.Type) {
		return store.Evidence{}, nil, fieldErr("evidence.type", "%q is not a document type like passport or id_card", e.Type)
	}
	if !docNumberPat.MatchString(e.Number) {
		return store.Evidence{}, nil, fieldErr("evidence.number", "%q is not a document number (letters, digits, space / . -; at most 40)", e.Number)
	}
	ev := store.Evidence{Type: e.Type, Number: e.Number, FileSHA256: strings.ToLower(e.FileSHA256)}
	if ev.FileSHA256 != "" && !hex64.MatchString(ev.FileSHA256) {
		return store.Evidence{}, nil, fieldErr("evidence.file_sha256", "not 64 hex digits (SHA-256)")
	}
	if len(e.FileName) > 200 || !utf8.ValidString(e.FileName) {
		return store.Evidence{}, nil, fieldErr("evidence.file_name", "over 200 bytes or not UTF-8")
	}
	ev.FileName = e.FileName
	var file []byte
	if e.FileBase64 != "" {
		b, err := base64.StdEncoding.DecodeString(e.FileBase64)
		if err != nil {
			return store.Evidence{}, nil, fieldErr("evidence.file_base64", "not base64: %v", err)
		}
		if len(b) > maxEvidence {
			return store.Evidence{}, nil, fieldErr("evidence.file_base64", "%d bytes; at most %d", len(b), maxEvidence)
		}
		h := sha256.Sum256(b)
		sum := hex.EncodeToString(h[:])
		if ev.FileSHA256 != "" && ev.FileSHA256 != sum {
			return store.Evidence{}, nil, fieldErr("evidence.file_sha256", "does not match the file sent (its SHA-256 is %s)", sum)
		}
		ev.FileSHA256, file = sum, b
	}
	return ev, file, nil
}

// RegisterSubscriber registers a natural person or an organisation.
func (s *Service) RegisterSubscriber(ctx context.Context, who store.Officer, in SubscriberInput) (Subscriber, error) {
	if err := s.authorize(ctx, who, ActSubscriberRegister, "subscriber"); err != nil {
		return Subscriber{}, err
	}
	now := s.now()
	sub := store.Subscriber{Kind: in.Kind, CreatedAt: now, CreatedBy: who.Name,
		AgreementVersion: s.o.AgreementVersion, AgreementAt: now, PDSVersion: s.o.PDSVersion, PDSAt: now}
	var search []string
	switch in.Kind {
	case store.SubscriberPerson:
		if in.Organization != nil {
			return Subscriber{}, fieldErr("organization", "not a field of a person; leave it out")
		}
		p, err := s.person(in.Person)
		if err != nil {
			return Subscriber{}, err
		}
		sub.Surname, sub.GivenName, sub.Patronymic, sub.PersonalNumber, sub.Country = p.Surname, p.GivenName, p.Patronymic, p.PersonalNumber, p.Country
		sub.Email, sub.Phone = in.Person.Email, in.Person.Phone
		search = append(search, p.Surname, p.GivenName, p.Patronymic, p.PersonalNumber, sub.Email)
	case store.SubscriberOrganization:
		if in.Person != nil {
			return Subscriber{}, fieldErr("person", "not a field of an organization; leave it out")
		}
		o, err := s.organization(in.Organization)
		if err != nil {
			return Subscriber{}, err
		}
		sub.OrgName, sub.RegistrationNumber, sub.TaxNumber, sub.Country = o.Name, o.RegistrationNumber, o.TaxNumber, o.Country
		if rep := in.Organization.RepresentativeID; rep != "" {
			r, err := s.st.GetSubscriber(ctx, rep)
			if errors.Is(err, store.ErrNotFound) {
				return Subscriber{}, fieldErr("representative_id", "no subscriber %s; register the representative first", rep)
			}
			if err != nil {
				return Subscriber{}, err
			}
			if r.Kind != store.SubscriberPerson {
				return Subscriber{}, fieldErr("representative_id", "%s is an organization; the representative is a person", rep)
			}
			sub.RepresentativeID = rep
		}
		search = append(search, o.Name, o.RegistrationNumber, o.TaxNumber)
	case "":
		return Subscriber{}, fieldErr("kind", "required (person or organization)")
	default:
		return Subscriber{}, fieldErr("kind", "%q is not person or organization", in.Kind)
	}
	for _, a := range []struct {
		field   string
		in      *AcceptanceInput
		version *string
		at      *time.Time
	}{{"agreement", in.Agreement, &sub.AgreementVersion, &sub.AgreementAt}, {"pds", in.PDS, &sub.PDSVersion, &sub.PDSAt}} {
		if a.in == nil {
			continue
		}
		if a.in.Version != "" {
			if len(a.in.Version) > 32 {
				return Subscriber{}, fieldErr(a.field+".version", "at most 32 characters")
			}
			*a.version = a.in.Version
		}
		if a.in.AcceptedAt != nil {
			if a.in.AcceptedAt.After(now.Add(5 * time.Minute)) {
				return Subscriber{}, fieldErr(a.field+".accepted_at", "%s is in the future", a.in.AcceptedAt.Format(time.RFC3339))
			}
			*a.at = a.in.AcceptedAt.UTC()
		}
	}
	if in.Passphrase != "" {
		if n := utf8.RuneCountInString(in.Passphrase); n < minPassphrase || len(in.Passphrase) > maxPassphrase {
			return Subscriber{}, fieldErr("passphrase", "%d characters; use %d to %d", n, minPassphrase, maxPassphrase)
		}
		h, err := HashPassphrase(s.o.Argon, s.o.Rand, in.Passphrase)
		if err != nil {
			return Subscriber{}, err
		}
		sub.PassphraseHash = h
	}
	ev, file, err := s.evidence(in.Evidence)
	if err != nil {
		return Subscriber{}, err
	}
	if sub.ID, err = s.newID("s-"); err != nil {
		return Subscriber{}, err
	}
	if in.Evidence != nil {
		if ev.ID, err = s.newID("e-"); err != nil {
			return Subscriber{}, err
		}
		ev.SubscriberID, ev.RecordedAt, ev.RecordedBy = sub.ID, now, who.Name
		if file != nil && s.o.EvidenceDir != "" {
			if ev.StoredPath, err = s.keepEvidence(ev, file); err != nil {
				return Subscriber{}, err
			}
		}
	}
	err = s.inTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.InsertSubscriber(ctx, sub, strings.Join(search, " ")); err != nil {
			return err
		}
		d := map[string]any{"kind": sub.Kind, "country": sub.Country, "has_passphrase": sub.PassphraseHash != "",
			"agreement": sub.AgreementVersion, "pds": sub.PDSVersion}
		if ev.ID != "" {
			if err := tx.InsertEvidence(ctx, ev); err != nil {
				return err
			}
			d["evidence"] = map[string]any{"type": ev.Type, "number": ev.Number, "file_sha256": ev.FileSHA256, "kept": ev.StoredPath != ""}
		}
		return s.appendAudit(ctx, tx, Actor(who), "subscriber.register", "subscriber/"+sub.ID, d)
	})
	if errors.Is(err, store.ErrExists) {
		field := "personal_number"
		if sub.Kind == store.SubscriberOrganization {
			field = "registration_number"
		}
		return Subscriber{}, &Error{Kind: errkind.Conflict, Field: field, Msg: fmt.Sprintf("%s: a subscriber with this number is registered already; search for it", field), Err: err}
	}
	if err != nil {
		return Subscriber{}, err
	}
	return s.subscriberView(ctx, sub)
}

// keepEvidence writes the scan under EvidenceDir, named by subscriber and
// hash, 0600; the database keeps the path.
func (s *Service) keepEvidence(ev store.Evidence, file []byte) (string, error) {
	dir := filepath.Join(s.o.EvidenceDir, ev.SubscriberID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("ra: evidence directory: %w", err)
	}
	name := ev.FileSHA256
	if ext := filepath.Ext(ev.FileName); ext != "" && len(ext) <= 8 {
		name += fileNameUnsafe.ReplaceAllString(ext, "_")
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, file, 0o600); err != nil {
		return "", fmt.Errorf("ra: keep evidence: %w", err)
	}
	return p, nil
}

func (s *Service) subscriberView(ctx context.Context, sub store.Subscriber) (Subscriber, error) {
	v := Subscriber{ID: sub.ID, Kind: sub.Kind, HasPassphrase: sub.PassphraseHash != "", CreatedBy: sub.CreatedBy, CreatedAt: sub.CreatedAt,
		Agreement: Acceptance{sub.AgreementVersion, sub.AgreementAt}, PDS: Acceptance{sub.PDSVersion, sub.PDSAt}, Evidence: []EvidenceView{}}
	if sub.Kind == store.SubscriberPerson {
		v.Person = &PersonInput{Surname: sub.Surname, GivenName: sub.GivenName, Patronymic: sub.Patronymic,
			PersonalNumber: sub.PersonalNumber, Country: sub.Country, Email: sub.Email, Phone: sub.Phone}
	} else {
		v.Organization = &OrganizationInput{Name: sub.OrgName, RegistrationNumber: sub.RegistrationNumber, TaxNumber: sub.TaxNumber,
			Country: sub.Country, RepresentativeID: sub.RepresentativeID}
	}
	evs, err := s.st.ListEvidence(ctx, sub.ID)
	if err != nil {
		return Subscriber{}, err
	}
	for _, e := range evs {
		v.Evidence = append(v.Evidence, EvidenceView{Type: e.Type, Number: e.Number, FileSHA256: e.FileSHA256, FileName: e.FileName, Kept: e.StoredPath != ""})
	}
	return v, nil
}

// GetSubscriber returns one subscriber.
func (s *Service) GetSubscriber(ctx context.Context, who store.Officer, id string) (Subscriber, error) {
	if err := s.authorize(ctx, who, ActSubscriberRead, "subscriber/"+id); err != nil {
		return Subscriber{}, err
	}
	sub, err := s.st.GetSubscriber(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Subscriber{}, notFound("no subscriber %s", id)
	}
	if err != nil {
		return Subscriber{}, err
	}
	return s.subscriberView(ctx, sub)
}

// MaxSearch bounds a search's results.
const MaxSearch = 100

// SearchSubscribers finds subscribers whose names or numbers contain text,
// taken literally.
func (s *Service) SearchSubscribers(ctx context.Context, who store.Officer, text string) ([]Subscriber, error) {
	if err := s.authorize(ctx, who, ActSubscriberRead, "subscriber"); err != nil {
		return nil, err
	}
	text = strings.TrimSpace(policy.NFC(text))
	if text == "" || utf8.RuneCountInString(text) > 128 || !utf8.ValidString(text) {
		return nil, fieldErr("q", "give 1 to 128 characters of a name or number to search for")
	}
	list, err := s.st.SearchSubscribers(ctx, text, MaxSearch)
	if err != nil {
		return nil, err
	}
	out := []Subscriber{}
	for _, sub := range list {
		v, err := s.subscriberView(ctx, sub)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
