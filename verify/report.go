// Package verify validates certificates and CMS/CAdES signatures the way
// ETSI EN 319 102-1 describes, and says so in its words: every result is a
// main indication (TOTAL-PASSED, TOTAL-FAILED, INDETERMINATE) with a
// sub-indication, the chain that was built, each check that was made and
// each revocation answer used. Revocation comes from OCSP (the AIA URL,
// any responder) with the CRL of the distribution point as fallback; the
// network is reached through an injected *http.Client with a timeout, a
// size limit and a redirect limit on every fetch, and answers are cached
// until their nextUpdate.
package verify

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"time"
)

// Indication is an EN 319 102-1 main indication.
type Indication string

// The main indications.
const (
	Passed        Indication = "TOTAL-PASSED"
	Failed        Indication = "TOTAL-FAILED"
	Indeterminate Indication = "INDETERMINATE"
)

// SubIndication is an EN 319 102-1 sub-indication.
type SubIndication string

// The sub-indications the validator gives.
const (
	FormatFailure           SubIndication = "FORMAT_FAILURE"
	HashFailure             SubIndication = "HASH_FAILURE"
	SigCryptoFailure        SubIndication = "SIG_CRYPTO_FAILURE"
	Revoked                 SubIndication = "REVOKED"
	NotYetValid             SubIndication = "NOT_YET_VALID"
	NoCertificateChainFound SubIndication = "NO_CERTIFICATE_CHAIN_FOUND"
	NoSigningCertFound      SubIndication = "NO_SIGNING_CERTIFICATE_FOUND"
	RevokedNoPOE            SubIndication = "REVOKED_NO_POE"
	OutOfBoundsNoPOE        SubIndication = "OUT_OF_BOUNDS_NO_POE"
	TryLater                SubIndication = "TRY_LATER"
	SigConstraintsFailure   SubIndication = "SIG_CONSTRAINTS_FAILURE"
	ChainConstraintsFailure SubIndication = "CHAIN_CONSTRAINTS_FAILURE"
	CryptoConstraintsFail   SubIndication = "CRYPTO_CONSTRAINTS_FAILURE"
)

// Status is a main indication with its sub-indication (empty for
// TOTAL-PASSED) and a sentence saying why.
type Status struct {
	Indication    Indication    `json:"indication"`
	SubIndication SubIndication `json:"subIndication,omitempty"`
	Reason        string        `json:"reason,omitempty"`
}

func pass() Status { return Status{Indication: Passed} }

// ExitCode is the command-line exit status of an indication: 0 only for
// TOTAL-PASSED, 1 failed, 4 indeterminate.
func (s Status) ExitCode() int {
	switch s.Indication {
	case Passed:
		return 0
	case Failed:
		return 1
	}
	return 4
}

// worse is the status that weighs more: failed over indeterminate over
// passed; the first of equals.
func worse(a, b Status) Status {
	rank := map[Indication]int{Passed: 0, Indeterminate: 1, Failed: 2}
	if rank[b.Indication] > rank[a.Indication] {
		return b
	}
	return a
}

// Check is one check made, in order.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// ChainCert describes one certificate of the chain, leaf first.
type ChainCert struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	SHA256    string    `json:"sha256"`
	Anchor    bool      `json:"trustAnchor,omitempty"`
	DER       []byte    `json:"-"`
}

func describe(c *x509.Certificate) ChainCert {
	h := sha256.Sum256(c.Raw)
	return ChainCert{Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: c.SerialNumber.Text(16),
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), SHA256: hex.EncodeToString(h[:]), DER: c.Raw}
}

// RevocationAnswer is one revocation answer used (or a source that gave
// none, with Error).
type RevocationAnswer struct {
	Certificate string     `json:"certificate"` // serial (hex) of the certificate asked about
	Source      string     `json:"source"`      // "OCSP" or "CRL"
	URL         string     `json:"url"`
	Status      string     `json:"status,omitempty"` // good, revoked, unknown
	RevokedAt   *time.Time `json:"revokedAt,omitempty"`
	Reason      int        `json:"reason,omitempty"`
	ThisUpdate  time.Time  `json:"thisUpdate,omitzero"`
	NextUpdate  time.Time  `json:"nextUpdate,omitzero"`
	ProducedAt  time.Time  `json:"producedAt,omitzero"`
	Cached      bool       `json:"cached,omitempty"`
	Error       string     `json:"error,omitempty"`
	DER         []byte     `json:"-"`
}

// Qualification is what the certificate says of itself: EN 319 412-5
// QCStatements and EN 319 411-2 policy OIDs.
type Qualification struct {
	Qualified   bool     `json:"qualified"`
	QSCD        bool     `json:"qscd"`
	Type        string   `json:"type,omitempty"` // esign, eseal, web
	Legislation []string `json:"legislation,omitempty"`
	Policies    []string `json:"policies,omitempty"`
	Note        string   `json:"note,omitempty"`
}

// CertReport is the result of validating one certificate at one time.
type CertReport struct {
	Status
	Subject string `json:"subject"`
	// At is the time the certificate was validated at; POE says a proof
	// of existence (a timestamp) fixed it rather than the clock.
	At            time.Time          `json:"validationTime"`
	POE           bool               `json:"proofOfExistence,omitempty"`
	Chain         []ChainCert        `json:"chain,omitempty"`
	Checks        []Check            `json:"checks"`
	Revocation    []RevocationAnswer `json:"revocation,omitempty"`
	Qualification *Qualification     `json:"qualification,omitempty"`
}

func (r *CertReport) check(name string, ok bool, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: detail})
}

// TimestampReport is the validation of a signature timestamp.
type TimestampReport struct {
	Status
	GenTime     time.Time   `json:"genTime,omitzero"`
	Policy      string      `json:"policy,omitempty"`
	Serial      string      `json:"serial,omitempty"`
	Checks      []Check     `json:"checks"`
	Certificate *CertReport `json:"certificate,omitempty"`
}

// SignatureReport is the verdict on one signer.
type SignatureReport struct {
	Status
	ID              string           `json:"id"`
	Signer          string           `json:"signer,omitempty"`
	SigningTime     *time.Time       `json:"claimedSigningTime,omitempty"`
	Checks          []Check          `json:"checks"`
	Timestamp       *TimestampReport `json:"timestamp,omitempty"`
	Certificate     *CertReport      `json:"certificate,omitempty"`
	DigestAlgorithm string           `json:"digestAlgorithm,omitempty"`
	// SignatureValue identifies the signature in the ETSI report.
	SignatureValue []byte `json:"-"`
	// Token is the signature timestamp's DER, when there is one.
	Token []byte `json:"-"`
}

func (r *SignatureReport) check(name string, ok bool, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: detail})
}

// Report is the result of one validation request.
type Report struct {
	Status
	// ValidationTime is when the validation ran.
	ValidationTime time.Time          `json:"validationTime"`
	Signatures     []*SignatureReport `json:"signatures,omitempty"`
	Certificate    *CertReport        `json:"certificate,omitempty"`
	// DocumentSHA256 is the digest of the signed content, when known.
	DocumentSHA256 string `json:"documentSha256,omitempty"`
}
