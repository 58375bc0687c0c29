package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sync"
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
	// ErrRequestConflict: the request id is already used by a request with
	// other content (key, profile, identity, QSCD or CA).
	ErrRequestConflict = errkind.New(errkind.Conflict, "issuer: request id already used with other content")
	// ErrPreparedElsewhere: a Prepared was handed to an Issuer other than
	// the one that made it.
	ErrPreparedElsewhere = errkind.New(errkind.Internal, "issuer: prepared request belongs to another issuer")
	// ErrPreparedUsed: a Prepared was issued once already.
	ErrPreparedUsed = errkind.New(errkind.Internal, "issuer: prepared request already used")
	// ErrNotLinted: the signed certificate is not the one that was linted;
	// it is discarded and its serial burned.
	ErrNotLinted = errkind.New(errkind.Internal, "issuer: signed certificate differs from the linted one")
	// ErrStore: the certificate was signed but could not be stored; it is
	// discarded, its serial burned, and the request may be retried at once.
	ErrStore = errkind.New(errkind.Unavailable, "issuer: signed certificate could not be stored")
	// ErrClosed: the Issuer was closed.
	ErrClosed = errkind.New(errkind.Unavailable, "issuer: closed")
)

// issuerStore is what the issuer needs from the database.
type issuerStore interface {
	GetCA(ctx context.Context, id string) (store.CA, error)
	ListCAs(ctx context.Context) ([]store.CA, error)
	LatestSigner(ctx context.Context, role, caID string) (store.Signer, error)
	GetCertificate(ctx context.Context, issuerID string, serial *big.Int) (store.Certificate, error)
	LiveIntent(ctx context.Context, requestID string) (store.IssuanceIntent, error)
	StaleIntents(ctx context.Context, issuerID string, now time.Time) ([]store.IssuanceIntent, error)
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

// Defaults of IssuerOptions.
const (
	DefaultSignTimeout = 10 * time.Second
	DefaultLease       = 30 * time.Second
)

// storeTimeout bounds the transactions after the HSM signed: they run even
// when the caller's context is cancelled, since the signature is made.
const storeTimeout = 30 * time.Second

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
	// SignTimeout bounds each HSM signature (config hsm.sign_timeout;
	// DefaultSignTimeout when zero). A signature not made in time is a sign
	// failure: the intent is abandoned.
	SignTimeout time.Duration
	// Lease is how long the issuer's holder row stays valid without renewal
	// (DefaultLease when zero); it is renewed every Lease/3 and stale
	// intents of gone holders are recovered every Lease. Clocks of the
	// processes sharing a database must agree to well within it.
	Lease time.Duration
	// HolderInfo describes this process in the holder row (default: host,
	// process id and program name).
	HolderInfo string
	// failpoint, when set (tests only, via export_test.go), runs at each Stage;
	// an error from it aborts Issue right there, as a crash would.
	failpoint func(Stage) error
	// makeCert signs the certificate (x509.CreateCertificate unless a test
	// replaces it, via export_test.go, to tamper).
	makeCert func(rand io.Reader, tmpl, parent *x509.Certificate, pub, priv any) ([]byte, error)
}

// Issuer issues end-entity certificates from one CA. Several Issuers of one
// CA, in one process or many, may issue at the same time: serials, request
// ids and keys are made unique by the database, each intent names its
// holder, and recovery abandons only intents whose holder's lease ran out.
// Close it to release its lease.
type Issuer struct {
	opts   IssuerOptions
	ca     store.CA
	cert   *x509.Certificate
	signer crypto.Signer
	// forbidden are the SPKI hashes of every CA and signer key of ours: a
	// CSR may not reuse one.
	forbidden map[[32]byte]string

	// renewMu keeps renewals (background and from Issue) one at a time, so
	// a lapsed lease is replaced by one new holder, not several.
	renewMu  sync.Mutex
	mu       sync.Mutex
	holder   string    // current holder id
	until    time.Time // end of the lease as last renewed
	closed   bool
	inflight sync.WaitGroup
	// orphans are this holder's own intents whose abandonment failed (the
	// database was away); the background loop retries them.
	orphans map[string]orphan

	stop     context.CancelFunc
	loopDone chan struct{}
}

type orphan struct {
	intent store.IssuanceIntent
	actor  string
	reason string
}

// NewIssuer loads the CA and its HSM key, registers a holder with a lease,
// abandons intents whose holders are gone (see Recover) and starts renewing
// the lease in the background until Close.
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
	if o.SignTimeout == 0 {
		o.SignTimeout = DefaultSignTimeout
	}
	if o.Lease == 0 {
		o.Lease = DefaultLease
	}
	if o.SignTimeout < 0 || o.Lease < 0 {
		return nil, fmt.Errorf("issuer: sign timeout %v and lease %v must be positive", o.SignTimeout, o.Lease)
	}
	if o.HolderInfo == "" {
		o.HolderInfo = processInfo()
	}
	if o.makeCert == nil {
		o.makeCert = x509.CreateCertificate
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
	i := &Issuer{opts: o, ca: c, cert: cert, signer: s, forbidden: keys, orphans: map[string]orphan{}}
	if err := i.register(ctx); err != nil {
		return nil, err
	}
	if _, err := i.Recover(ctx); err != nil {
		i.release()
		return nil, err
	}
	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	i.stop, i.loopDone = stop, make(chan struct{})
	go i.loop(loopCtx)
	return i, nil
}

func processInfo() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("host %s pid %d %s", host, os.Getpid(), filepath.Base(os.Args[0]))
}

// CA returns the issuing CA's certificate.
func (i *Issuer) CA() *x509.Certificate { return i.cert }

// HolderID is the id of the holder row this Issuer renews.
func (i *Issuer) HolderID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.holder
}

// Close waits for issuances under way, stops renewing and releases the
// lease (its leftover intents become recoverable at once).
func (i *Issuer) Close() error {
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		return nil
	}
	i.closed = true
	i.mu.Unlock()
	i.inflight.Wait()
	i.stop()
	<-i.loopDone
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	i.retryOrphans(ctx)
	return i.release()
}

// register inserts a fresh holder row for this Issuer.
func (i *Issuer) register(ctx context.Context) error {
	b := make([]byte, 16)
	if _, err := io.ReadFull(i.opts.Rand, b); err != nil {
		return fmt.Errorf("issuer: holder id: %w", err)
	}
	id := hex.EncodeToString(b)
	now := i.opts.Clock().UTC()
	until := now.Add(i.opts.Lease)
	err := inTx(ctx, i.opts.Store, func(ctx context.Context, tx Tx) error {
		return tx.InsertHolder(ctx, store.IssuanceHolder{ID: id, IssuerID: i.ca.ID, Info: i.opts.HolderInfo,
			StartedAt: now, ExpiresAt: until})
	})
	if err != nil {
		return fmt.Errorf("issuer: register holder: %w", err)
	}
	i.mu.Lock()
	i.holder, i.until = id, until
	i.mu.Unlock()
	return nil
}

// renew extends the lease. A lease that already ran out is not revived (a
// recoverer may be abandoning its intents): the Issuer registers a new
// holder instead, and the old holder's intents are left to recovery.
func (i *Issuer) renew(ctx context.Context) error {
	i.renewMu.Lock()
	defer i.renewMu.Unlock()
	i.mu.Lock()
	id := i.holder
	i.mu.Unlock()
	now := i.opts.Clock().UTC()
	until := now.Add(i.opts.Lease)
	err := inTx(ctx, i.opts.Store, func(ctx context.Context, tx Tx) error {
		return tx.RenewHolder(ctx, id, now, until)
	})
	if errors.Is(err, store.ErrNotFound) {
		i.opts.Log.Warn("issuer lease ran out; registering a new holder", "ca", i.ca.ID, "holder", id)
		return i.register(ctx)
	}
	if err != nil {
		return fmt.Errorf("issuer: renew lease of holder %s: %w", id, err)
	}
	i.mu.Lock()
	if i.holder == id {
		i.until = until
	}
	i.mu.Unlock()
	return nil
}

// liveHolder returns the holder id new intents are written under, renewing
// first when the lease may have run out (the background loop fell behind).
func (i *Issuer) liveHolder(ctx context.Context) (string, error) {
	// Keep a third of the lease in hand: the intent must be written while
	// no recoverer may take it.
	fresh := func() (string, bool) {
		i.mu.Lock()
		defer i.mu.Unlock()
		return i.holder, i.opts.Clock().Before(i.until.Add(-i.opts.Lease / 3))
	}
	if id, ok := fresh(); ok {
		return id, nil
	}
	if err := i.renew(ctx); err != nil {
		return "", err
	}
	id, _ := fresh()
	return id, nil
}

// release ends the lease now.
func (i *Issuer) release() error {
	i.mu.Lock()
	id := i.holder
	i.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	now := i.opts.Clock().UTC()
	err := inTx(ctx, i.opts.Store, func(ctx context.Context, tx Tx) error {
		return tx.RenewHolder(ctx, id, now, now)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("issuer: release lease of holder %s: %w", id, err)
	}
	return nil
}

// loop renews the lease every Lease/3 and recovers every Lease until stopped.
func (i *Issuer) loop(ctx context.Context) {
	defer close(i.loopDone)
	t := time.NewTicker(i.opts.Lease / 3)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := i.renew(ctx); err != nil && ctx.Err() == nil {
			i.opts.Log.Error("renew issuer lease", "ca", i.ca.ID, "err", err)
		}
		i.retryOrphans(ctx)
		if n%3 == 0 {
			if _, err := i.Recover(ctx); err != nil && ctx.Err() == nil {
				i.opts.Log.Error("recover issuance intents", "ca", i.ca.ID, "err", err)
			}
		}
	}
}

// Recover abandons this CA's pending intents whose holder is gone (its
// lease ran out: the process crashed or was killed): the signature, if one
// was made, was never stored and is not resurrected; the serial stays
// burned and the request may be issued again. Intents of live holders are
// never touched. Each intent is abandoned in its own transaction with its
// audit record; when several processes recover at once exactly one
// abandons each intent. It returns how many this call abandoned.
func (i *Issuer) Recover(ctx context.Context) (int, error) {
	now := i.opts.Clock().UTC()
	stale, err := i.opts.Store.StaleIntents(ctx, i.ca.ID, now)
	if err != nil {
		return 0, fmt.Errorf("issuer: stale intents: %w", err)
	}
	n := 0
	for _, in := range stale {
		ok, err := i.abandonStale(ctx, in, now)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// abandonStale abandons one intent of a gone holder; false when it was not
// stale after all (its holder renewed, or another recoverer was first).
func (i *Issuer) abandonStale(ctx context.Context, in store.IssuanceIntent, now time.Time) (bool, error) {
	reason := "intent left pending by an issuer that is gone (its lease ran out); serial burned"
	if in.HolderID == "" {
		reason = "intent left pending by an interrupted issuance; serial burned"
	}
	err := inTx(ctx, i.opts.Store, func(ctx context.Context, tx Tx) error {
		if err := tx.AbandonStaleIntent(ctx, in.IssuerID, in.Serial, now); err != nil {
			return err
		}
		_, err := audit.Append(ctx, tx, now, audit.Entry{Actor: "muhr-issuer", Action: "issuance.abandon",
			Object: certObject(in.IssuerID, in.Serial), Details: map[string]any{"request": in.RequestID,
				"profile": in.Profile, "holder": in.HolderID, "reason": reason}})
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("issuer: abandon intent %s: %w", certObject(in.IssuerID, in.Serial), err)
	}
	i.opts.Log.Warn("abandoned issuance of a gone issuer", "ca", in.IssuerID, "serial", fmt.Sprintf("%x", in.Serial),
		"request", in.RequestID, "holder", in.HolderID)
	return true, nil
}

func certObject(issuerID string, serial *big.Int) string {
	return fmt.Sprintf("cert/%s/%x", issuerID, serial)
}
