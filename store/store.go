// Package store defines the persistence contract of the center: the rows,
// the read queries and the transaction. One implementation exists,
// store/sqlstore on database/sql, opened on PostgreSQL by store/postgres and
// on SQLite by store/sqlite (the embedded default); one contract suite
// (store/storetest) runs against both. Domains do not take Tx whole: each
// declares the narrow transaction it needs (ca.Tx, tsa.Tx, ...).
package store

import (
	"context"
	"encoding/json"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/errkind"
)

// Errors callers branch on.
var (
	ErrNotFound        = errkind.New(errkind.NotFound, "store: not found")
	ErrExists          = errkind.New(errkind.Conflict, "store: already exists")
	ErrDuplicateSerial = errkind.New(errkind.Conflict, "store: serial already used for this issuer")
	ErrUnavailable     = errkind.New(errkind.Unavailable, "store: database unavailable")
	// ErrSchemaBehind: the database lacks migrations this binary needs.
	// Only muhrd and `muhr db migrate` apply them.
	ErrSchemaBehind = errkind.New(errkind.Unavailable, "store: database schema is behind")
)

// CA kinds.
const (
	CAKindRoot       = "root"
	CAKindIssuing    = "issuing"
	CAKindManagement = "management"
)

// CA statuses.
const (
	CAStatusActive  = "active"
	CAStatusRetired = "retired"
)

// CA is a certification authority the center operates.
type CA struct {
	ID        string // short stable id used in URLs: /ca/<id>.crt
	Kind      string // CAKind*
	ParentID  string // "" for self-signed
	KeyLabel  string // label of the private key on the HSM token
	CertDER   []byte
	Status    string // CAStatus*
	CreatedAt time.Time
}

// Certificate statuses.
const (
	CertStatusValid   = "valid"
	CertStatusRevoked = "revoked"
	CertStatusOnHold  = "hold"
)

// Certificate is an issued certificate (end entity, CA, OCSP or TSA signer).
type Certificate struct {
	IssuerID         string
	Serial           *big.Int
	Subject          string // RFC 4514 string, for display and search
	Profile          string
	NotBefore        time.Time
	NotAfter         time.Time
	DER              []byte
	Status           string // CertStatus*
	RevokedAt        *time.Time
	RevocationReason *int // RFC 5280 CRLReason; nil when not revoked
	// InvalidityDate is a revoked certificate's invalidity date (the
	// suspected key compromise), when one was given.
	InvalidityDate *time.Time
}

// SerialReservation records that a serial was drawn for an issuer. A serial is
// reserved before anything is signed with it and is never released: a
// reservation whose certificate never got stored stays burned.
type SerialReservation struct {
	IssuerID   string
	Serial     *big.Int
	Purpose    string
	ReservedAt time.Time
}

// CRL is one issued CRL of a CA.
type CRL struct {
	IssuerID   string
	Number     *big.Int
	ThisUpdate time.Time
	NextUpdate time.Time
	DER        []byte
}

// Signer roles.
const (
	SignerRoleOCSP = "ocsp"
	SignerRoleTSA  = "tsa"
)

// Signer is a delegated OCSP responder or TSA unit: a key on the token and
// the certificate one of our CAs issued for it. The certificate itself is
// stored as a Certificate too (same issuer and serial).
type Signer struct {
	Role     string // SignerRole*
	CAID     string // the CA that issued the signer's certificate
	KeyLabel string
	Serial   *big.Int
	CertDER  []byte
	NotAfter time.Time
}

// AuditEntry is what a caller asks the audit log to record (audit.Entry).
type AuditEntry struct {
	Actor   string // who: an officer's certificate subject, "muhrd", "ceremony", ...
	Action  string // what, dotted: "cert.issue", "ca.create", ...
	Object  string // on what: "cert/<issuer>/<serial hex>", "ca/<id>", ...
	Details any    // JSON-encodable; stored in canonical form
}

// AuditRecord is one row of the hash-chained audit log. Only audit.Seal
// makes one (Seq, PrevHash, Hash); the store keeps it.
type AuditRecord struct {
	Seq      int64 // 1-based, gapless
	Time     time.Time
	Actor    string
	Action   string
	Object   string
	Details  json.RawMessage
	PrevHash []byte // SHA-256 of the previous record's canonical bytes; 32 zero bytes for Seq 1
	Hash     []byte // SHA-256 of this record's canonical bytes
}

// MaxLookup bounds the keys one GetCertificates or GetTSATokens call takes.
const MaxLookup = 500

// RevokedEntry is one revoked or held certificate as a CRL lists it.
type RevokedEntry struct {
	Serial    *big.Int
	Status    string // CertStatusRevoked or CertStatusOnHold
	RevokedAt time.Time
	// Reason is the RFC 5280 CRLReason; nil when none was recorded.
	Reason *int
	// InvalidityDate is when the key is known or suspected to have been
	// compromised (a revocation's --compromise-time); nil when not known.
	InvalidityDate *time.Time
	NotAfter       time.Time // the certificate's, for dropping expired entries
}

// RevocationState is a cheap summary of an issuer's revoked and held
// certificates: it changes when one is revoked, held or released, so a CRL
// producer can poll it to know a new CRL is due.
type RevocationState struct {
	Count    int64
	LatestAt time.Time // the newest revocation time; zero when Count is 0
}

// CRLReader holds the queries a CRL is made from.
type CRLReader interface {
	// RevokedAfter returns up to limit revoked or held certificates of the
	// issuer whose serial follows after (nil: from the first), in key order
	// (the serial's lowercase hex as the database compares text), so a CRL
	// of any size is written a page at a time.
	RevokedAfter(ctx context.Context, issuerID string, after *big.Int, limit int) ([]RevokedEntry, error)
	// RevocationState summarises the issuer's revoked and held certificates.
	RevocationState(ctx context.Context, issuerID string) (RevocationState, error)
	// NextCRLNumber is one more than the issuer's highest CRL number (1 when
	// it has none). Two producers may both get it: InsertCRL refuses the
	// second with ErrExists and that one retries with a fresh number.
	NextCRLNumber(ctx context.Context, issuerID string) (*big.Int, error)
}

// Leases gives a named job (the CRL producer) to one process at a time.
// Times are the caller's clock; holders on several hosts need synchronised
// clocks (the center requires NTP) and a TTL well above their skew.
type Leases interface {
	// AcquireLease takes the lease for holder until now+ttl when it is free,
	// expired or already holder's (a renewal), in one statement; false
	// (and nil) when another holder has it.
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if holder has it.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Reader holds the queries available both inside and outside a transaction.
type Reader interface {
	IssuanceReader
	TSAReader
	StatusReader
	CRLReader
	RAReader
	GetCA(ctx context.Context, id string) (CA, error)
	ListCAs(ctx context.Context) ([]CA, error)
	GetCertificate(ctx context.Context, issuerID string, serial *big.Int) (Certificate, error)
	// GetCertificates returns the issuer's certificates with the given
	// serials (at most MaxLookup), in no particular order; serials not
	// stored are left out.
	GetCertificates(ctx context.Context, issuerID string, serials []*big.Int) ([]Certificate, error)
	// CertificatesAfter returns up to limit certificates that follow
	// (issuerID, serial) in key order: issuer id, then the serial's
	// lowercase hex, each compared as the database compares text. ("", nil)
	// starts at the first. It is for walking every row a page at a time.
	CertificatesAfter(ctx context.Context, issuerID string, serial *big.Int, limit int) ([]Certificate, error)
	// LatestCRL returns the CRL with the highest number for the issuer.
	LatestCRL(ctx context.Context, issuerID string) (CRL, error)
	// LatestSigner returns the role's signer under the CA whose certificate
	// expires last.
	LatestSigner(ctx context.Context, role, caID string) (Signer, error)
	// AuditRecords returns up to limit records with Seq > afterSeq, in order.
	AuditRecords(ctx context.Context, afterSeq int64, limit int) ([]AuditRecord, error)
}

// CAWriter holds the changes of the CA hierarchy and its certificates.
type CAWriter interface {
	InsertCA(ctx context.Context, ca CA) error // ErrExists
	// ReserveSerial fails with ErrDuplicateSerial when the (issuer, serial)
	// pair was ever reserved; the database enforces it.
	ReserveSerial(ctx context.Context, r SerialReservation) error
	// InsertCertificate needs a prior reservation of the same serial.
	InsertCertificate(ctx context.Context, c Certificate) error
	InsertCRL(ctx context.Context, c CRL) error // ErrExists on a reused number
	// InsertSigner needs the signer's certificate stored first; ErrExists
	// when that certificate already has a signer row.
	InsertSigner(ctx context.Context, s Signer) error
}

// AuditWriter is the audit log's only write. It takes an entry, not a
// record: under the chain's lock (held until the Tx ends, so concurrent
// appends queue rather than fork the chain) the store reads the newest
// record and has audit.Seal make the next one. No caller can insert a
// record that does not chain. audit.Append is how domains call it.
type AuditWriter interface {
	AppendAudit(ctx context.Context, at time.Time, e AuditEntry) (AuditRecord, error)
}

// Tx is a database transaction: everything the store can do inside one.
// Only the store and InTx's signature name it whole; each domain narrows it
// to the transaction it declares (ca.Tx, ca.CeremonyTx, tsa.Tx).
type Tx interface {
	Reader
	CAWriter
	IssuanceWriter
	TSAWriter
	StatusWriter
	RAWriter
	AuditWriter
}

// Store is an open database.
type Store interface {
	Reader
	// ReadSnapshot runs fn in a read-only transaction whose reads all see
	// one state of the database (REPEATABLE READ on PostgreSQL, a deferred
	// transaction on SQLite in WAL mode), so a walk over several tables is
	// consistent while others keep writing. It takes no write lock.
	ReadSnapshot(ctx context.Context, fn func(ctx context.Context, r Reader) error) error
	Leases
	// InTx runs fn in one transaction: committed if fn returns nil, rolled
	// back otherwise.
	InTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Probe makes a real write (one row of health_probe) within ctx's
	// deadline, so a write-locked database, a full or read-only disk or an
	// unwritable WAL fail it while Ping still succeeds.
	Probe(ctx context.Context) error
	// Migrate applies pending migrations, each once and atomically; several
	// processes may call it at once (they queue on a lock).
	Migrate(ctx context.Context) error
	// CheckSchema fails with ErrSchemaBehind when migrations are pending.
	CheckSchema(ctx context.Context) error
	Close() error
}
