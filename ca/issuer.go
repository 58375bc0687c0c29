package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
)

// Errors the issuer's callers branch on.
var (
	ErrRequest     = errkind.New(errkind.Invalid, "issuer: request refused")
	ErrInProgress  = errkind.New(errkind.Conflict, "issuer: the request is being issued right now")
	ErrLint        = errkind.New(errkind.Invalid, "issuer: certificate fails pre-issuance lint")
	ErrSign        = errkind.New(errkind.Unavailable, "issuer: CA key could not sign")
	ErrKeyReused   = errkind.New(errkind.Conflict, "issuer: public key already certified for another request")
	ErrWrongIssuer = errkind.New(errkind.Forbidden, "issuer: profile may not be issued by this CA")
)

// issuerStore is what the issuer needs from the database.
type issuerStore interface {
	GetCA(ctx context.Context, id string) (store.CA, error)
	ListCAs(ctx context.Context) ([]store.CA, error)
	LatestSigner(ctx context.Context, role, caID string) (store.Signer, error)
	GetCertificate(ctx context.Context, issuerID string, serial *big.Int) (store.Certificate, error)
	LiveIntent(ctx context.Context, requestID string) (store.IssuanceIntent, error)
	PendingIntents(ctx context.Context) ([]store.IssuanceIntent, error)
	IntentsBySPKI(ctx context.Context, spkiHash []byte) ([]store.IssuanceIntent, error)
	InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error
}

// keySource hands out the CA's signer by key label (hsm.KeyStore fits).
type keySource interface {
	Signer(ctx context.Context, label string) (crypto.Signer, error)
}

// Stage names a point in Issue where a test failpoint may stop the process.
type Stage string

// Stages of Issue, in order.
const (
	StageIntentWritten Stage = "intent-written" // intent and audit committed, nothing signed
	StageSigned        Stage = "signed"         // HSM signed, nothing stored
)

// IssuerOptions configure an Issuer.
type IssuerOptions struct {
	CAID     string
	Store    issuerStore
	Keys     keySource
	Settings ProfileSettings
	Clock    func() time.Time
	Rand     io.Reader
	Log      *slog.Logger
	Linter   *policy.Linter
	// failpoint, when set (tests only, via export_test.go), runs at each Stage;
	// an error from it aborts Issue right there, as a crash would.
	failpoint func(Stage) error
}

// Issuer issues end-entity certificates from one CA.
type Issuer struct {
	opts   IssuerOptions
	ca     store.CA
	cert   *x509.Certificate
	signer crypto.Signer
	// forbidden are the SPKI hashes of every CA and signer key of ours: a
	// CSR may not reuse one.
	forbidden map[[32]byte]string
}

// NewIssuer loads the CA and its HSM key, then resolves intents a crash left
// behind (see Recover).
func NewIssuer(ctx context.Context, o IssuerOptions) (*Issuer, error) {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Linter == nil {
		o.Linter = policy.NewLinter()
	}
	c, err := o.Store.GetCA(ctx, o.CAID)
	if err != nil {
		return nil, fmt.Errorf("issuer: CA %s: %w", o.CAID, err)
	}
	cert, err := x509.ParseCertificate(c.CertDER)
	if err != nil {
		return nil, fmt.Errorf("issuer: CA %s certificate: %w", o.CAID, err)
	}
	s, err := o.Keys.Signer(ctx, c.KeyLabel)
	if err != nil {
		return nil, fmt.Errorf("issuer: CA %s key %s: %w", o.CAID, c.KeyLabel, err)
	}
	cas, err := o.Store.ListCAs(ctx)
	if err != nil {
		return nil, fmt.Errorf("issuer: list CAs: %w", err)
	}
	keys := map[[32]byte]string{}
	for _, other := range cas {
		if oc, err := x509.ParseCertificate(other.CertDER); err == nil {
			keys[sha256.Sum256(oc.RawSubjectPublicKeyInfo)] = "CA " + other.ID
		}
		for _, role := range []string{store.SignerRoleOCSP, store.SignerRoleTSA} {
			sg, err := o.Store.LatestSigner(ctx, role, other.ID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("issuer: %s signer of %s: %w", role, other.ID, err)
			}
			if sc, err := x509.ParseCertificate(sg.CertDER); err == nil {
				keys[sha256.Sum256(sc.RawSubjectPublicKeyInfo)] = role + " signer of " + other.ID
			}
		}
	}
	i := &Issuer{opts: o, ca: c, cert: cert, signer: s, forbidden: keys}
	if _, err := i.Recover(ctx); err != nil {
		return nil, err
	}
	return i, nil
}

// CA returns the issuing CA's certificate.
func (i *Issuer) CA() *x509.Certificate { return i.cert }

// Recover abandons this CA's intents that a crash left pending: the
// signature, if one was made, was never stored and is not resurrected; the
// serial stays burned and the request may be issued again. It returns how
// many it abandoned.
func (i *Issuer) Recover(ctx context.Context) (int, error) {
	pend, err := i.opts.Store.PendingIntents(ctx)
	if err != nil {
		return 0, fmt.Errorf("issuer: pending intents: %w", err)
	}
	n := 0
	for _, in := range pend {
		if in.IssuerID != i.ca.ID {
			continue
		}
		now := i.opts.Clock().UTC()
		err := i.opts.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			if err := tx.SetIntentState(ctx, in.IssuerID, in.Serial, store.IntentPending, store.IntentAbandoned, now); err != nil {
				return err
			}
			_, err := audit.Append(ctx, tx, now, audit.Entry{Actor: "muhr-issuer", Action: "issuance.abandon",
				Object: certObject(in.IssuerID, in.Serial), Details: map[string]any{"request": in.RequestID,
					"profile": in.Profile, "reason": "intent left pending by an interrupted issuance; serial burned"}})
			return err
		})
		if err != nil {
			return n, fmt.Errorf("issuer: abandon intent %s: %w", certObject(in.IssuerID, in.Serial), err)
		}
		i.opts.Log.Warn("abandoned interrupted issuance", "ca", in.IssuerID, "serial", fmt.Sprintf("%x", in.Serial), "request", in.RequestID)
		n++
	}
	return n, nil
}

func certObject(issuerID string, serial *big.Int) string {
	return fmt.Sprintf("cert/%s/%x", issuerID, serial)
}
