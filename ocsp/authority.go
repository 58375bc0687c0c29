package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/store"
)

// Errors the Responder maps to response statuses.
var (
	// ErrUnauthorized: the issuer is not one of ours (unauthorized).
	ErrUnauthorized = errkind.New(errkind.NotFound, "ocsp: issuer unknown to this responder")
	// ErrUnavailable: the answer needs the database, which is away, and no
	// valid cached answer exists (tryLater).
	ErrUnavailable = errkind.New(errkind.Unavailable, "ocsp: status unavailable")
)

// Source is where answers come from; the Responder only speaks HTTP.
type Source interface {
	// Response returns the pre-signed DER response for one serial under the
	// issuer whose key hash (SHA-1 or SHA-256, told apart by length) and
	// name hash are given.
	Response(ctx context.Context, id CertID) (*Cached, error)
	// Sign answers a whole request live: every CertID, the nonce echoed.
	Sign(ctx context.Context, req *Request) ([]byte, error)
}

// Cached is a pre-signed response.
type Cached struct {
	DER        []byte
	ThisUpdate time.Time
	NextUpdate time.Time
	ETag       string // quoted hex SHA-256 of DER
	status     single
	by         *signer // the signer that made it: one replaced since makes it due
	hdr        atomic.Pointer[getHeaders]
}

// Store is what the Authority reads; store.Store has it.
type Store interface {
	ListCAs(ctx context.Context) ([]store.CA, error)
	GetCertificate(ctx context.Context, issuerID string, serial *big.Int) (store.Certificate, error)
	CertificatesAfter(ctx context.Context, issuerID string, serial *big.Int, limit int) ([]store.Certificate, error)
	LatestSigner(ctx context.Context, role, caID string) (store.Signer, error)
}

// KeyStore hands out signers by key label (hsm.KeyStore fits).
type KeyStore interface {
	Signer(ctx context.Context, label string) (crypto.Signer, error)
}

// Options configure an Authority.
type Options struct {
	Store Store
	Keys  KeyStore
	// Validity is nextUpdate − thisUpdate of every response (config
	// ocsp.validity). Cached responses are re-signed after a quarter of it
	// and never served past half of it unless the database is away.
	Validity time.Duration
	// RefreshRate bounds the refresher's signatures per second (config
	// ocsp.refresh_rate), so that a round over a million certificates
	// neither starves live requests of the token nor spikes the CPU.
	// Zero: DefaultRefreshRate.
	RefreshRate int
	// MaxUnissued caps the cached answers about never-issued serials
	// (config ocsp.unissued_cache), the oldest evicted first; zero:
	// DefaultMaxUnissued.
	MaxUnissued int
	// SignTimeout bounds each signature, the wait for a free token session
	// included (config hsm.sign_timeout); zero: only the caller's context
	// does. A signature that runs out answers tryLater, or the cached
	// answer while it is valid: a stuck token must not hold requests.
	SignTimeout time.Duration
	// Registry, when set, gets the never-issued cache's metrics.
	Registry prometheus.Registerer
	Clock    func() time.Time
	Log      *slog.Logger
}

// issuer is one CA we answer for.
type issuer struct {
	id            string
	cert          *x509.Certificate
	nameHash      map[crypto.Hash][]byte
	keyHash       map[crypto.Hash][]byte
	archiveCutoff time.Time
	// signer is swapped when a renewed signer appears in the store
	// (ReloadSigners); answers already signed keep being served.
	signer atomic.Pointer[signer]
}

type cacheKey struct {
	issuer string
	serial string // big-endian bytes of the serial
	hash   crypto.Hash
}

// Authority decides statuses and signs them, keeping pre-signed answers.
// It implements Source.
type Authority struct {
	o     Options
	byKey map[string]*issuer // SHA-1 and SHA-256 key hashes
	byID  map[string]*issuer
	mu    sync.RWMutex
	cache map[cacheKey]*Cached // answers about stored certificates
	// unissued holds the answers about never-issued serials, capped.
	unissued *unissuedCache
	// epoch counts Invalidate calls (under mu). An answer whose status was
	// read before an invalidation is served but not cached: it may predate
	// the change the invalidation announced.
	epoch   uint64
	dbError atomic.Pointer[error] // the last store read's failure; nil when it answered
}

// New loads every issuing CA that has an OCSP signer, with the signer's key
// from the token. It needs the database once, here.
func New(ctx context.Context, o Options) (*Authority, error) {
	if o.Store == nil || o.Keys == nil {
		return nil, errors.New("ocsp: Store and Keys are required")
	}
	if o.Validity <= 0 {
		return nil, errors.New("ocsp: Validity must be positive")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxUnissued < 0 {
		return nil, errors.New("ocsp: MaxUnissued must not be negative")
	}
	if o.MaxUnissued == 0 {
		o.MaxUnissued = DefaultMaxUnissued
	}
	a := &Authority{o: o, byKey: map[string]*issuer{}, byID: map[string]*issuer{}, cache: map[cacheKey]*Cached{},
		unissued: newUnissuedCache(o.MaxUnissued, prometheus.NewCounter(prometheus.CounterOpts{Name: "muhr_ocsp_unissued_evicted_total",
			Help: "OCSP answers about never-issued serials evicted from memory to keep within ocsp.unissued_cache."}))}
	if err := a.registerMetrics(o.Registry); err != nil {
		return nil, fmt.Errorf("ocsp: metrics: %w", err)
	}
	cas, err := o.Store.ListCAs(ctx)
	if err != nil {
		return nil, fmt.Errorf("ocsp: list CAs: %w", err)
	}
	for _, c := range cas {
		if c.Kind != store.CAKindIssuing {
			continue
		}
		is, err := a.loadIssuer(ctx, c)
		if errors.Is(err, store.ErrNotFound) {
			o.Log.Warn("ocsp: issuing CA has no OCSP signer; its certificates are answered unauthorized", "ca", c.ID)
			continue
		}
		if err != nil {
			return nil, err
		}
		a.byID[is.id] = is
	}
	if len(a.byID) == 0 {
		return nil, errors.New("ocsp: no issuing CA with an OCSP signer")
	}
	return a, nil
}

func (a *Authority) loadIssuer(ctx context.Context, c store.CA) (*issuer, error) {
	cert, err := x509.ParseCertificate(c.CertDER)
	if err != nil {
		return nil, fmt.Errorf("ocsp: CA %s certificate: %w", c.ID, err)
	}
	sg, err := a.o.Store.LatestSigner(ctx, store.SignerRoleOCSP, c.ID)
	if err != nil {
		return nil, fmt.Errorf("ocsp: signer of CA %s: %w", c.ID, err)
	}
	scert, err := x509.ParseCertificate(sg.CertDER)
	if err != nil {
		return nil, fmt.Errorf("ocsp: signer certificate of CA %s: %w", c.ID, err)
	}
	key, err := a.o.Keys.Signer(ctx, sg.KeyLabel)
	if err != nil {
		return nil, fmt.Errorf("ocsp: signer key %s of CA %s: %w", sg.KeyLabel, c.ID, err)
	}
	s, err := newSigner(key, scert)
	if err != nil {
		return nil, fmt.Errorf("CA %s: %w", c.ID, err)
	}
	s.label = sg.KeyLabel
	var spki struct {
		Alg asn1.RawValue
		Key asn1.BitString
	}
	if _, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, fmt.Errorf("ocsp: CA %s key: %w", c.ID, err)
	}
	is := &issuer{id: c.ID, cert: cert, archiveCutoff: cert.NotBefore,
		nameHash: map[crypto.Hash][]byte{}, keyHash: map[crypto.Hash][]byte{}}
	is.signer.Store(s)
	k1, k256 := sha1.Sum(spki.Key.RightAlign()), sha256.Sum256(spki.Key.RightAlign())
	n1, n256 := sha1.Sum(cert.RawSubject), sha256.Sum256(cert.RawSubject)
	is.nameHash[crypto.SHA1], is.nameHash[crypto.SHA256] = n1[:], n256[:]
	is.keyHash[crypto.SHA1], is.keyHash[crypto.SHA256] = k1[:], k256[:]
	a.byKey[string(k1[:])], a.byKey[string(k256[:])] = is, is
	return is, nil
}

// SignerLabels are the token labels of the keys the Authority signs with.
func (a *Authority) SignerLabels() []string {
	var out []string
	for _, is := range a.byID {
		out = append(out, is.signer.Load().label)
	}
	return out
}

// CAs are the ids of the CAs answered for, sorted.
func (a *Authority) CAs() []string {
	out := make([]string, 0, len(a.byID))
	for id := range a.byID {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// SignerLabel is the token label of the key that signs caID's answers
// now: after ReloadSigners, the renewed one ("" for a CA not answered for).
func (a *Authority) SignerLabel(caID string) string {
	if is := a.byID[caID]; is != nil {
		return is.signer.Load().label
	}
	return ""
}

func (a *Authority) issuerOf(id CertID) (*issuer, error) {
	is := a.byKey[string(id.KeyHash)]
	if is == nil || !bytes.Equal(is.nameHash[id.Hash], id.NameHash) {
		return nil, ErrUnauthorized
	}
	return is, nil
}

func key(is *issuer, id CertID) cacheKey {
	return cacheKey{issuer: is.id, serial: string(id.Serial.Bytes()), hash: id.Hash}
}

// UnissuedRecheck is how long an answer about a never-issued serial is
// served before the store is read again. Issuance writes no status-feed
// row, so a serial asked about while its certificate was still pending (a
// reserved serial is never good) would otherwise keep that answer here, and
// in every other responder process, until the next refresh round.
const UnissuedRecheck = time.Minute

// fresh: signed less than half the validity ago and not yet expired; an
// answer about a never-issued serial only for UnissuedRecheck.
func (a *Authority) fresh(c *Cached, now time.Time) bool {
	if c.status.unissued && !now.Before(c.ThisUpdate.Add(UnissuedRecheck)) {
		return false
	}
	return now.Before(c.ThisUpdate.Add(a.o.Validity/2)) && now.Before(c.NextUpdate)
}

// Response implements Source: the cached answer when fresh; otherwise
// the status is read and signed, and cached. With the database away a
// cached answer that has not passed its nextUpdate is served.
func (a *Authority) Response(ctx context.Context, id CertID) (*Cached, error) {
	is, err := a.issuerOf(id)
	if err != nil {
		return nil, err
	}
	k := key(is, id)
	now := a.o.Clock()
	a.mu.RLock()
	c := a.lookup(k)
	a.mu.RUnlock()
	if c != nil && a.fresh(c, now) {
		return c, nil
	}
	n, err := a.resign(ctx, is, id, now)
	if err != nil {
		if c != nil && now.Before(c.NextUpdate) && errors.Is(err, ErrUnavailable) {
			return c, nil
		}
		return nil, err
	}
	return n, nil
}

// resign reads the status and signs a new cached answer.
func (a *Authority) resign(ctx context.Context, is *issuer, id CertID, now time.Time) (*Cached, error) {
	epoch := a.readEpoch()
	st, err := a.status(ctx, is, id)
	if err != nil {
		return nil, err
	}
	return a.put(ctx, is, id, st, now, epoch)
}

func (a *Authority) readEpoch() uint64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.epoch
}

// put signs st and caches it unless an invalidation came after the status
// was read (epoch is a.epoch from before that read).
func (a *Authority) put(ctx context.Context, is *issuer, id CertID, st single, now time.Time, epoch uint64) (*Cached, error) {
	next := now.Add(a.o.Validity)
	sg := is.signer.Load()
	der, err := a.sign(ctx, sg, []single{st}, now, next, is.archiveCutoff, nil)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	c := &Cached{DER: der, ThisUpdate: now.UTC().Truncate(time.Second), NextUpdate: next.UTC().Truncate(time.Second),
		ETag: `"` + hex.EncodeToString(sum[:16]) + `"`, status: st, by: sg}
	a.mu.Lock()
	if a.epoch == epoch {
		if st.unissued {
			a.unissued.put(key(is, id), c)
		} else {
			a.cache[key(is, id)] = c
			a.unissued.remove(key(is, id)) // issued since it was asked about
		}
	}
	a.mu.Unlock()
	return c, nil
}

// status reads the certificate: stored → its status; not stored → revoked
// 1970 certificateHold with extended-revoke (RFC 6960 §2.2), never good.
func (a *Authority) status(ctx context.Context, is *issuer, id CertID) (single, error) {
	c, err := a.o.Store.GetCertificate(ctx, is.id, id.Serial)
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.dbError.Store(nil)
		return single{id: id, status: Revoked, revokedAt: unissuedRevokedAt, reason: ReasonCertificateHold, unissued: true}, nil
	case err != nil:
		a.dbError.Store(&err)
		a.o.Log.Warn("ocsp: status read failed", "ca", is.id, "serial", id.Serial.Text(16), "err", err.Error())
		return single{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	a.dbError.Store(nil)
	return certStatus(id, c)
}

func certStatus(id CertID, c store.Certificate) (single, error) {
	switch c.Status {
	case store.CertStatusValid:
		return single{id: id, status: Good, reason: -1}, nil
	case store.CertStatusOnHold:
		at := c.NotBefore
		if c.RevokedAt != nil {
			at = *c.RevokedAt
		}
		return single{id: id, status: Revoked, revokedAt: at, reason: ReasonCertificateHold}, nil
	case store.CertStatusRevoked:
		if c.RevokedAt == nil {
			return single{}, fmt.Errorf("ocsp: certificate %s is revoked without a time", c.Serial.Text(16))
		}
		r := -1
		if c.RevocationReason != nil && *c.RevocationReason != 0 {
			r = *c.RevocationReason
		}
		return single{id: id, status: Revoked, revokedAt: *c.RevokedAt, reason: r}, nil
	default:
		return single{}, fmt.Errorf("ocsp: certificate %s has status %q", c.Serial.Text(16), c.Status)
	}
}

// Sign implements Source: every CertID answered in one response signed now,
// with the nonce echoed. All CertIDs must be of one of our issuers (one
// response has one signer); otherwise ErrUnauthorized. A status the
// database cannot give now comes from a cached answer still valid.
func (a *Authority) Sign(ctx context.Context, req *Request) ([]byte, error) {
	var is *issuer
	answers := make([]single, 0, len(req.CertIDs))
	now := a.o.Clock()
	for _, id := range req.CertIDs {
		i, err := a.issuerOf(id)
		if err != nil {
			return nil, err
		}
		if is != nil && i != is {
			return nil, fmt.Errorf("%w: CertIDs of CAs %s and %s in one request", ErrUnauthorized, is.id, i.id)
		}
		is = i
		// A fresh cached answer's status is as current as the database's:
		// every change reaches the cache through Invalidate (the status
		// feed) before it is answered from there; only the signature and
		// the nonce are new. Otherwise the store is read.
		if st, ok := a.cachedStatus(is, id, now); ok {
			answers = append(answers, st)
			continue
		}
		st, err := a.status(ctx, is, id)
		if err != nil {
			a.mu.RLock()
			c := a.lookup(key(is, id))
			a.mu.RUnlock()
			if c == nil || !now.Before(c.NextUpdate) || !errors.Is(err, ErrUnavailable) {
				return nil, err
			}
			st = c.status
		}
		answers = append(answers, st)
	}
	return a.sign(ctx, is.signer.Load(), answers, now, now.Add(a.o.Validity), is.archiveCutoff, req.Nonce)
}

// sign signs answers with sg within SignTimeout. A signature cut short by
// the timeout or by the caller is ErrUnavailable (tryLater; a valid cached
// answer is served instead where there is one), not an internal error.
func (a *Authority) sign(ctx context.Context, sg *signer, answers []single, now, next, archiveCutoff time.Time, nonce []byte) ([]byte, error) {
	if a.o.SignTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.o.SignTimeout)
		defer cancel()
	}
	der, err := sg.sign(ctx, answers, now, now, next, archiveCutoff, nonce)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w: signing: %w", ErrUnavailable, err)
	}
	return der, err
}

// cachedStatus is the status of a fresh cached answer about id's
// certificate (either CertID hash), re-pointed at id as asked.
func (a *Authority) cachedStatus(is *issuer, id CertID, now time.Time) (single, bool) {
	a.mu.RLock()
	c := a.lookup(key(is, id))
	if c == nil || !a.fresh(c, now) {
		other := crypto.SHA256
		if id.Hash == crypto.SHA256 {
			other = crypto.SHA1
		}
		c = a.lookup(cacheKey{issuer: is.id, serial: string(id.Serial.Bytes()), hash: other})
	}
	a.mu.RUnlock()
	if c == nil || !a.fresh(c, now) {
		return single{}, false
	}
	st := c.status
	st.id = id
	return st, true
}

// Invalidate drops the cached answers for a certificate whose status
// changed, so the next request reads and signs its new status.
//
// HOOK(status-feed): the coordinator adapts store.StatusChangesAfter to a
// ChangeFeed and runs Follow; until then a status change is seen when the
// cached answer is re-signed, after at most a quarter of Validity.
func (a *Authority) Invalidate(issuerID string, serial *big.Int) {
	s := string(serial.Bytes())
	a.mu.Lock()
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		k := cacheKey{issuer: issuerID, serial: s, hash: h}
		delete(a.cache, k)
		a.unissued.remove(k)
	}
	a.epoch++
	a.mu.Unlock()
}

// Health fails while the last store read failed: the cache still answers,
// so the check degrades rather than downs.
func (a *Authority) Health(context.Context) error {
	if p := a.dbError.Load(); p != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, *p)
	}
	return nil
}

// pageSize is how many certificates the refresher reads at a time.
const pageSize = 500

// DefaultRefreshRate is the refresher's default pace in signatures per
// second: a million certificates in about 35 minutes, far inside the
// quarter of the default 24 h validity a round must fit in, while leaving
// the token to live requests.
const DefaultRefreshRate = 500

// pacer spaces signatures to rate per second in batches (sleeping once
// per batch, not per signature).
type pacer struct {
	rate  int
	start time.Time
	n     int
}

func (p *pacer) wait(ctx context.Context) error {
	p.n++
	if p.n%25 != 0 {
		return nil
	}
	ahead := time.Until(p.start.Add(time.Duration(p.n) * time.Second / time.Duration(p.rate)))
	if ahead <= 0 {
		return nil
	}
	t := time.NewTimer(ahead)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Refresh signs ahead: a SHA-1 answer for every stored certificate of our
// issuers that has none fresh, a new SHA-256 answer where one is cached,
// and a new one for every cached answer signed more than a quarter of
// Validity ago or by a signer since replaced. It walks the store a page at
// a time at RefreshRate signatures per second, so its memory beyond the
// cache is one page; answers about never-issued serials are dropped when
// stale rather than re-signed (the next request signs one). The first
// store failure ends the round.
func (a *Authority) Refresh(ctx context.Context) (signed int, err error) {
	rate := a.o.RefreshRate
	if rate <= 0 {
		rate = DefaultRefreshRate
	}
	pc := &pacer{rate: rate, start: time.Now()}
	for _, is := range a.byID {
		var after *big.Int
		for {
			epoch := a.readEpoch()
			page, err := a.o.Store.CertificatesAfter(ctx, is.id, after, pageSize)
			if err != nil {
				a.dbError.Store(&err)
				return signed, fmt.Errorf("ocsp: refresh %s: %w", is.id, err)
			}
			a.dbError.Store(nil)
			for _, c := range page {
				if c.IssuerID != is.id {
					page = nil
					break
				}
				for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
					id := CertID{Hash: h, NameHash: is.nameHash[h], KeyHash: keyHashOf(is, h), Serial: c.Serial}
					// SHA-1 is what clients send (RFC 5019); SHA-256 is
					// kept fresh once someone asked for it.
					if !a.due(is, id, h == crypto.SHA1) {
						continue
					}
					st, err := certStatus(id, c)
					if err != nil {
						return signed, err
					}
					if _, err := a.put(ctx, is, id, st, a.o.Clock(), epoch); err != nil {
						return signed, err
					}
					signed++
					if err := pc.wait(ctx); err != nil {
						return signed, err
					}
				}
				after = c.Serial
			}
			if len(page) < pageSize {
				break
			}
		}
	}
	a.dropStaleUnissued()
	return signed, nil
}

// due: no answer cached (when missingDue), or one signed a quarter of
// Validity ago, or one signed by a signer since replaced, or a
// never-issued answer about what Refresh found stored.
func (a *Authority) due(is *issuer, id CertID, missingDue bool) bool {
	a.mu.RLock()
	c := a.lookup(key(is, id))
	a.mu.RUnlock()
	if c == nil {
		return missingDue
	}
	if c.status.unissued {
		return true // asked about before it was stored: it is issued now
	}
	return c.by != is.signer.Load() || !a.o.Clock().Before(c.ThisUpdate.Add(a.o.Validity/4))
}

// dropStaleUnissued forgets stale answers about never-issued serials (and
// ones by a replaced signer): the walk does not see them, and a client
// asking again gets one signed then.
func (a *Authority) dropStaleUnissued() {
	now := a.o.Clock()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unissued.removeIf(func(k cacheKey, c *Cached) bool {
		return c.by != a.byID[k.issuer].signer.Load() || !now.Before(c.ThisUpdate.Add(a.o.Validity/4))
	})
}

// lookup is the cached answer under k, of either kind (a.mu held).
func (a *Authority) lookup(k cacheKey) *Cached {
	if c := a.cache[k]; c != nil {
		return c
	}
	return a.unissued.get(k)
}

func keyHashOf(is *issuer, h crypto.Hash) []byte { return is.keyHash[h] }

// ReloadSigners reads each issuer's newest OCSP signer from the store and,
// when it is not the one in use (the ca role renewed it), loads its key
// from the token and signs with it from now on. Answers signed by the old
// signer are still served (its certificate is still valid) and are due at
// the next Refresh. It returns how many signers changed.
func (a *Authority) ReloadSigners(ctx context.Context) (int, error) {
	changed := 0
	var errs []error
	for _, is := range a.byID {
		sg, err := a.o.Store.LatestSigner(ctx, store.SignerRoleOCSP, is.id)
		if err != nil {
			errs = append(errs, fmt.Errorf("ocsp: signer of CA %s: %w", is.id, err))
			continue
		}
		cur := is.signer.Load()
		if sg.KeyLabel == cur.label {
			continue
		}
		scert, err := x509.ParseCertificate(sg.CertDER)
		if err != nil {
			errs = append(errs, fmt.Errorf("ocsp: signer certificate of CA %s: %w", is.id, err))
			continue
		}
		if err := scert.CheckSignatureFrom(is.cert); err != nil {
			errs = append(errs, fmt.Errorf("ocsp: signer certificate %s is not signed by CA %s: %w", sg.KeyLabel, is.id, err))
			continue
		}
		if !a.o.Clock().Before(scert.NotAfter) {
			continue // the store's newest is already expired: keep what works
		}
		key, err := a.o.Keys.Signer(ctx, sg.KeyLabel)
		if err != nil {
			errs = append(errs, fmt.Errorf("ocsp: signer key %s of CA %s: %w", sg.KeyLabel, is.id, err))
			continue
		}
		s, err := newSigner(key, scert)
		if err != nil {
			errs = append(errs, fmt.Errorf("CA %s: %w", is.id, err))
			continue
		}
		s.label = sg.KeyLabel
		is.signer.Store(s)
		changed++
		a.o.Log.Info("ocsp: signing with the renewed signer", "ca", is.id, "old_key", cur.label, "new_key", s.label,
			"not_after", scert.NotAfter)
	}
	return changed, errors.Join(errs...)
}

// SignerCheck is how often Run looks for a renewed signer.
const SignerCheck = time.Minute

// Run refreshes every interval until ctx ends (the first round at once),
// and looks for a renewed signer every SignerCheck, refreshing at once
// when one appeared.
func (a *Authority) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	sc := time.NewTicker(min(SignerCheck, interval))
	defer sc.Stop()
	for {
		n, err := a.Refresh(ctx)
		if err != nil && ctx.Err() == nil {
			a.o.Log.Warn("ocsp: refresh", "signed", n, "err", err.Error())
		} else if n > 0 {
			a.o.Log.Debug("ocsp: refreshed", "signed", n)
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				break wait
			case <-sc.C:
				if n, err := a.ReloadSigners(ctx); err != nil && ctx.Err() == nil {
					a.o.Log.Warn("ocsp: reload signers", "err", err.Error())
				} else if n > 0 {
					break wait
				}
			}
		}
	}
}

// Change is one certificate whose status changed, as the store's
// status-change feed reports it.
type Change struct {
	Seq      int64
	IssuerID string
	Serial   *big.Int
}

// ChangeFeed returns up to limit changes with Seq > afterSeq, in order
// (store.StatusChangesAfter, adapted, once it exists).
type ChangeFeed func(ctx context.Context, afterSeq int64, limit int) ([]Change, error)

// Follow polls feed every interval from afterSeq until ctx ends and
// invalidates every changed certificate, so its next answer is read and
// signed anew; a failed poll is retried at the next tick from where it
// stopped.
func (a *Authority) Follow(ctx context.Context, feed ChangeFeed, afterSeq int64, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			page, err := feed(ctx, afterSeq, pageSize)
			if err != nil {
				if ctx.Err() == nil {
					a.o.Log.Warn("ocsp: status-change feed", "after", afterSeq, "err", err.Error())
				}
				break
			}
			for _, c := range page {
				a.Invalidate(c.IssuerID, c.Serial)
				afterSeq = max(afterSeq, c.Seq)
			}
			if len(page) < pageSize {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
