package store

import (
	"context"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/errkind"
)

// ErrStateChanged: a conditional update found the row in another state
// than the one it changes from (a concurrent decision won, or the request
// is final); nothing was changed.
var ErrStateChanged = errkind.New(errkind.Conflict, "store: row is no longer in the state the change starts from")

// Officer is a person who may call the officer API. Roles are sorted.
type Officer struct {
	ID            string
	Name          string
	CertSHA256    string // lowercase hex of the SHA-256 of the client certificate's DER
	CertIssuerID  string // "" when the certificate is not one of ours on record
	CertSerial    *big.Int
	CertDER       []byte
	Roles         []string
	Active        bool
	CreatedAt     time.Time
	CreatedBy     string
	DeactivatedAt *time.Time
	DeactivatedBy string
}

// Subscriber kinds.
const (
	SubscriberPerson       = "person"
	SubscriberOrganization = "organization"
)

// Subscriber is a registered natural or legal person. Fields of the other
// kind are empty.
type Subscriber struct {
	ID   string
	Kind string // Subscriber*
	// person
	Surname, GivenName, Patronymic, PersonalNumber string
	// organization
	OrgName, RegistrationNumber, TaxNumber, RepresentativeID string
	Country                                                  string
	Email, Phone                                             string
	// PassphraseHash is the Argon2id hash of the revocation passphrase in
	// PHC form; "" when none was given.
	PassphraseHash   string
	AgreementVersion string
	AgreementAt      time.Time
	PDSVersion       string
	PDSAt            time.Time
	CreatedAt        time.Time
	CreatedBy        string
}

// Evidence is one identity document seen at the counter.
type Evidence struct {
	ID           string
	SubscriberID string
	Type         string
	Number       string
	FileSHA256   string // lowercase hex; "" when no scan was given
	FileName     string
	StoredPath   string // where the scan is kept; "" when not kept
	RecordedAt   time.Time
	RecordedBy   string
}

// Request statuses.
const (
	RequestPending  = "pending"
	RequestRejected = "rejected"
	RequestIssued   = "issued"
	RequestFailed   = "failed"
)

// Request kinds.
const (
	RequestNew   = "new"
	RequestRenew = "renew"
	RequestRekey = "rekey"
)

// CertRequest is a certificate request at the counter.
type CertRequest struct {
	ID           string
	SubscriberID string
	Profile      string
	Kind         string // Request{New,Renew,Rekey}
	// RenewsIssuerID and RenewsSerial name the certificate a renew or
	// rekey replaces.
	RenewsIssuerID string
	RenewsSerial   *big.Int
	CSRDER         []byte
	DNSNames       []string
	QSCD           bool
	QSCDEvidence   []byte // JSON; nil when not QSCD
	CAID           string // the CA that will issue it
	Status         string // Request*
	Reason         string
	SubmittedBy    string
	SubmittedAt    time.Time
	DecidedBy      string
	DecidedAt      *time.Time
	IssuerID       string // with Serial: the issued certificate
	Serial         *big.Int
	UpdatedAt      time.Time
}

// RequestFilter selects requests; empty fields match all.
type RequestFilter struct {
	Status       string
	SubscriberID string
	Limit        int // at most 500; 0 means 100
}

// ListenerCert is a TLS server certificate of one of muhrd's listeners
// (the officer API), its key on the token.
type ListenerCert struct {
	Name     string
	IssuerID string
	Serial   *big.Int
	KeyLabel string
	NotAfter time.Time
}

// RAReader holds the registration queries.
type RAReader interface {
	GetOfficer(ctx context.Context, id string) (Officer, error)
	// OfficerByFingerprint finds the officer whose certificate has this
	// SHA-256 (lowercase hex), active or not.
	OfficerByFingerprint(ctx context.Context, sha256Hex string) (Officer, error)
	ListOfficers(ctx context.Context) ([]Officer, error)
	GetSubscriber(ctx context.Context, id string) (Subscriber, error)
	// SearchSubscribers returns up to limit subscribers whose names or
	// search text (given at insert) contains text, case-insensitively
	// (Unicode lowercase, Cyrillic too); text is matched literally, never
	// as a pattern.
	SearchSubscribers(ctx context.Context, text string, limit int) ([]Subscriber, error)
	ListEvidence(ctx context.Context, subscriberID string) ([]Evidence, error)
	GetRequest(ctx context.Context, id string) (CertRequest, error)
	ListRequests(ctx context.Context, f RequestFilter) ([]CertRequest, error)
	// RequestByCertificate finds the request that issued the certificate.
	RequestByCertificate(ctx context.Context, issuerID string, serial *big.Int) (CertRequest, error)
	// CertificatesBySerial returns the certificates with this serial under
	// any issuer (normally one).
	CertificatesBySerial(ctx context.Context, serial *big.Int) ([]Certificate, error)
	// PassphraseFailures counts failed passphrase attempts on the
	// certificate at or after since.
	PassphraseFailures(ctx context.Context, issuerID string, serial *big.Int, since time.Time) (int, error)
	// LatestListenerCert is the named listener's certificate that expires
	// last.
	LatestListenerCert(ctx context.Context, name string) (ListenerCert, error)
}

// RAWriter holds the registration changes. Each conditional change fails
// with ErrStateChanged (changing nothing) when the row is not in the state
// it starts from, and ErrNotFound when there is no row.
type RAWriter interface {
	InsertOfficer(ctx context.Context, o Officer) error // ErrExists: name or certificate taken
	DeactivateOfficer(ctx context.Context, id, by string, at time.Time) error
	// InsertSubscriber fails with ErrExists when the personal or
	// registration number is registered already.
	InsertSubscriber(ctx context.Context, s Subscriber, searchText string) error
	InsertEvidence(ctx context.Context, e Evidence) error
	InsertRequest(ctx context.Context, r CertRequest) error
	// ClaimRequest records the approver's decision: from pending without a
	// decision, or from failed (a retry). Of concurrent claims one wins.
	ClaimRequest(ctx context.Context, id, by string, at time.Time) error
	// RejectRequest: from pending without a decision, or from failed.
	RejectRequest(ctx context.Context, id, by, reason string, at time.Time) error
	// FailRequest: from pending with a decision.
	FailRequest(ctx context.Context, id, reason string, at time.Time) error
	// IssueRequest records the certificate: from pending with a decision,
	// or failed.
	IssueRequest(ctx context.Context, id, issuerID string, serial *big.Int, at time.Time) error
	InsertPassphraseAttempt(ctx context.Context, issuerID string, serial *big.Int, officer string, ok bool, at time.Time) error
	// LockCertificate holds the certificate's row until the transaction
	// ends (PostgreSQL; SQLite's write lock holds everything), so checks
	// and changes on it from several processes queue.
	LockCertificate(ctx context.Context, issuerID string, serial *big.Int) error
	InsertListenerCert(ctx context.Context, l ListenerCert) error
}
