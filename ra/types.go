package ra

import (
	"encoding/json"
	"time"
)

// The objects of the officer API (API.md), with its JSON names.

// Officer is an officer as the API shows it.
type Officer struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Roles       []string  `json:"roles"`
	Active      bool      `json:"active"`
	Fingerprint string    `json:"fingerprint"`
	Certificate string    `json:"certificate,omitempty"` // PEM, only on create
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by,omitempty"`
}

// OfficerInput adds an officer. Person, when given, is the identity the
// officer certificate names; without it the certificate names the officer
// by login name (see API.md).
type OfficerInput struct {
	Name   string       `json:"name"`
	Roles  []string     `json:"roles"`
	CSR    string       `json:"csr"`
	Person *PersonInput `json:"person,omitempty"`
}

// PersonInput is a natural person at registration.
type PersonInput struct {
	Surname        string `json:"surname"`
	GivenName      string `json:"given_name"`
	Patronymic     string `json:"patronymic,omitempty"`
	PersonalNumber string `json:"personal_number"`
	Country        string `json:"country"`
	Email          string `json:"email,omitempty"`
	Phone          string `json:"phone,omitempty"`
}

// OrganizationInput is a legal person at registration.
type OrganizationInput struct {
	Name               string `json:"name"`
	RegistrationNumber string `json:"registration_number"`
	TaxNumber          string `json:"tax_number"`
	Country            string `json:"country"`
	RepresentativeID   string `json:"representative_id,omitempty"`
}

// EvidenceInput is an identity document seen at the counter.
type EvidenceInput struct {
	Type       string `json:"type"`
	Number     string `json:"number"`
	FileSHA256 string `json:"file_sha256,omitempty"`
	FileName   string `json:"file_name,omitempty"`
	FileBase64 string `json:"file_base64,omitempty"`
}

// Acceptance records that a document was accepted, in which version.
type Acceptance struct {
	Version    string    `json:"version"`
	AcceptedAt time.Time `json:"accepted_at"`
}

// acceptanceInput tells an absent time from a zero one.
type AcceptanceInput struct {
	Version    string     `json:"version"`
	AcceptedAt *time.Time `json:"accepted_at,omitempty"`
}

// SubscriberInput registers a subscriber.
type SubscriberInput struct {
	Kind         string             `json:"kind"`
	Person       *PersonInput       `json:"person,omitempty"`
	Organization *OrganizationInput `json:"organization,omitempty"`
	Evidence     *EvidenceInput     `json:"evidence,omitempty"`
	Passphrase   string             `json:"passphrase,omitempty"`
	Agreement    *AcceptanceInput   `json:"agreement,omitempty"`
	PDS          *AcceptanceInput   `json:"pds,omitempty"`
}

// EvidenceView is recorded evidence.
type EvidenceView struct {
	Type       string `json:"type"`
	Number     string `json:"number"`
	FileSHA256 string `json:"file_sha256,omitempty"`
	FileName   string `json:"file_name,omitempty"`
	Kept       bool   `json:"kept,omitempty"`
}

// Subscriber is a registered subscriber as the API shows it.
type Subscriber struct {
	ID            string             `json:"id"`
	Kind          string             `json:"kind"`
	Person        *PersonInput       `json:"person,omitempty"`
	Organization  *OrganizationInput `json:"organization,omitempty"`
	Evidence      []EvidenceView     `json:"evidence"`
	HasPassphrase bool               `json:"has_passphrase"`
	Agreement     Acceptance         `json:"agreement"`
	PDS           Acceptance         `json:"pds"`
	CreatedBy     string             `json:"created_by"`
	CreatedAt     time.Time          `json:"created_at"`
}

// QSCDEvidence is what `muhr token enroll` reports of the key it generated
// on the subscriber's device.
type QSCDEvidence struct {
	TokenSerial      string `json:"token_serial"`
	TokenLabel       string `json:"token_label"`
	Manufacturer     string `json:"manufacturer"`
	Model            string `json:"model"`
	KeyLabel         string `json:"key_label"`
	Sensitive        bool   `json:"sensitive"`
	Extractable      bool   `json:"extractable"`
	AlwaysSensitive  bool   `json:"always_sensitive"`
	NeverExtractable bool   `json:"never_extractable"`
	Local            bool   `json:"local"`
}

// RequestInput submits a certificate request.
type RequestInput struct {
	SubscriberID string        `json:"subscriber_id"`
	Profile      string        `json:"profile"`
	CSR          string        `json:"csr"`
	Kind         string        `json:"kind,omitempty"`
	RenewsSerial string        `json:"renews_serial,omitempty"`
	DNSNames     []string      `json:"dns_names,omitempty"`
	QSCD         *QSCDEvidence `json:"qscd,omitempty"`
}

// Request is a certificate request as the API shows it.
type Request struct {
	ID           string          `json:"id"`
	SubscriberID string          `json:"subscriber_id"`
	Profile      string          `json:"profile"`
	Kind         string          `json:"kind"`
	RenewsSerial string          `json:"renews_serial,omitempty"`
	DNSNames     []string        `json:"dns_names,omitempty"`
	Status       string          `json:"status"`
	QSCD         bool            `json:"qscd"`
	QSCDEvidence json.RawMessage `json:"qscd_evidence,omitempty"`
	CAID         string          `json:"ca_id"`
	SubmittedBy  string          `json:"submitted_by"`
	DecidedBy    string          `json:"decided_by,omitempty"`
	Reason       string          `json:"reason,omitempty"`
	Serial       string          `json:"serial,omitempty"`
	Certificate  string          `json:"certificate,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	DecidedAt    *time.Time      `json:"decided_at,omitempty"`
}

// Revocation is a revoked or suspended certificate's revocation.
type Revocation struct {
	Reason         string     `json:"reason"`
	Time           time.Time  `json:"time"`
	InvalidityDate *time.Time `json:"invalidity_date,omitempty"`
}

// Certificate statuses of the API.
const (
	CertGood      = "good"
	CertRevoked   = "revoked"
	CertSuspended = "suspended"
)

// Certificate is an issued certificate as the API shows it.
type Certificate struct {
	Serial       string      `json:"serial"`
	SubscriberID string      `json:"subscriber_id,omitempty"`
	RequestID    string      `json:"request_id,omitempty"`
	Profile      string      `json:"profile"`
	Status       string      `json:"status"`
	NotBefore    time.Time   `json:"not_before"`
	NotAfter     time.Time   `json:"not_after"`
	Subject      string      `json:"subject"`
	IssuerCA     string      `json:"issuer_ca"`
	Revocation   *Revocation `json:"revocation,omitempty"`
	Certificate  string      `json:"certificate"`
}

// AuditRecord is one audit record as the API shows it.
type AuditRecord struct {
	Seq     int64           `json:"seq"`
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Subject string          `json:"subject"`
	Details json.RawMessage `json:"details"`
	Hash    string          `json:"hash"`
}

// AuditPage is a page of the audit log.
type AuditPage struct {
	Records      []AuditRecord `json:"records"`
	NextAfterSeq int64         `json:"next_after_seq"`
}

// AuditVerification is the outcome of checking the audit log.
type AuditVerification struct {
	OK           bool     `json:"ok"`
	Records      int64    `json:"records"`
	Head         string   `json:"head"`
	Problems     []string `json:"problems"`
	Checkpoints  int      `json:"checkpoints"`
	Certificates int64    `json:"certificates"`
}
