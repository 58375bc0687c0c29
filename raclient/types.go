package raclient

import "encoding/json"

// The wire objects of the officer API (API.md, v1). Field names are the
// contract; the CLI's -o json prints these as they are.

// Officer is a registration officer's account.
type Officer struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Roles       []string `json:"roles"`
	Active      bool     `json:"active"`
	Fingerprint string   `json:"fingerprint,omitempty"`
	Certificate string   `json:"certificate,omitempty"`
	CreatedAt   string   `json:"created_at,omitempty"`
}

// OfficerInput creates an officer from a CSR.
type OfficerInput struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
	CSR   string   `json:"csr"`
}

// Person is a natural person's registered identity.
type Person struct {
	Surname        string `json:"surname"`
	GivenName      string `json:"given_name"`
	Patronymic     string `json:"patronymic,omitempty"`
	PersonalNumber string `json:"personal_number"`
	Country        string `json:"country"`
	Email          string `json:"email,omitempty"`
	Phone          string `json:"phone,omitempty"`
}

// Organization is a legal person's registered identity.
type Organization struct {
	Name               string `json:"name"`
	RegistrationNumber string `json:"registration_number"`
	TaxNumber          string `json:"tax_number"`
	Country            string `json:"country"`
	RepresentativeID   string `json:"representative_id,omitempty"`
}

// Evidence is the identity document seen at the counter.
type Evidence struct {
	Type       string `json:"type"`
	Number     string `json:"number"`
	FileSHA256 string `json:"file_sha256,omitempty"`
	FileName   string `json:"file_name,omitempty"`
	FileBase64 string `json:"file_base64,omitempty"`
}

// Acceptance records a document version the subscriber accepted.
type Acceptance struct {
	Version    string `json:"version"`
	AcceptedAt string `json:"accepted_at"`
}

// SubscriberInput registers a person or an organization.
type SubscriberInput struct {
	Kind         string        `json:"kind"`
	Person       *Person       `json:"person,omitempty"`
	Organization *Organization `json:"organization,omitempty"`
	Evidence     *Evidence     `json:"evidence,omitempty"`
	Passphrase   string        `json:"passphrase,omitempty"`
	Agreement    *Acceptance   `json:"agreement,omitempty"`
	PDS          *Acceptance   `json:"pds,omitempty"`
}

// Subscriber is a registered subscriber.
type Subscriber struct {
	ID            string        `json:"id"`
	Kind          string        `json:"kind"`
	Person        *Person       `json:"person,omitempty"`
	Organization  *Organization `json:"organization,omitempty"`
	Evidence      []Evidence    `json:"evidence,omitempty"`
	HasPassphrase bool          `json:"has_passphrase"`
	Agreement     *Acceptance   `json:"agreement,omitempty"`
	PDS           *Acceptance   `json:"pds,omitempty"`
	CreatedBy     string        `json:"created_by,omitempty"`
	CreatedAt     string        `json:"created_at,omitempty"`
}

// QSCDEvidence says the key was generated on the subscriber's device at
// the counter, as the device itself reported it.
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

// Request is a certificate request and its decision.
type Request struct {
	ID           string `json:"id"`
	SubscriberID string `json:"subscriber_id"`
	Profile      string `json:"profile"`
	Kind         string `json:"kind,omitempty"`
	Status       string `json:"status"`
	QSCD         bool   `json:"qscd"`
	SubmittedBy  string `json:"submitted_by,omitempty"`
	DecidedBy    string `json:"decided_by,omitempty"`
	Reason       string `json:"reason,omitempty"`
	Serial       string `json:"serial,omitempty"`
	Certificate  string `json:"certificate,omitempty"`
	CreatedAt    string `json:"created_at,omitempty"`
	DecidedAt    string `json:"decided_at,omitempty"`
}

// Revocation is why and when a certificate was revoked or held.
type Revocation struct {
	Reason         string `json:"reason,omitempty"`
	Time           string `json:"time,omitempty"`
	InvalidityDate string `json:"invalidity_date,omitempty"`
}

// Certificate is an issued certificate and its status.
type Certificate struct {
	Serial       string      `json:"serial"`
	SubscriberID string      `json:"subscriber_id,omitempty"`
	Profile      string      `json:"profile,omitempty"`
	Status       string      `json:"status"`
	NotBefore    string      `json:"not_before,omitempty"`
	NotAfter     string      `json:"not_after,omitempty"`
	Subject      string      `json:"subject,omitempty"`
	IssuerCA     string      `json:"issuer_ca,omitempty"`
	Revocation   *Revocation `json:"revocation,omitempty"`
	Certificate  string      `json:"certificate,omitempty"`
}

// AuditRecord is one record of the hash-chained audit log.
type AuditRecord struct {
	Seq     int64           `json:"seq"`
	Time    string          `json:"time"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Subject string          `json:"subject,omitempty"`
	Details json.RawMessage `json:"details,omitempty"`
	Hash    string          `json:"hash,omitempty"`
}

// AuditPage is one page of the audit log.
type AuditPage struct {
	Records      []AuditRecord `json:"records"`
	NextAfterSeq int64         `json:"next_after_seq"`
}

// AuditReport is the server's check of the audit chain.
type AuditReport struct {
	OK          bool     `json:"ok"`
	Records     int64    `json:"records"`
	Head        string   `json:"head"`
	Problems    []string `json:"problems"`
	Checkpoints int64    `json:"checkpoints"`
}

// RevokeReasons are the reasons the API accepts, in the order help lists them.
func RevokeReasons() []string {
	return []string{"keyCompromise", "cessationOfOperation", "affiliationChanged", "superseded", "privilegeWithdrawn", "unspecified"}
}
