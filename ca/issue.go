package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync/atomic"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
)

// Request is an approved certificate request.
type Request struct {
	// ID identifies the approved request; issuing the same ID twice yields
	// one certificate, and the same ID with other content is refused
	// (ErrRequestConflict).
	ID       string
	Profile  string
	CSR      []byte // PEM or DER
	Identity policy.Identity
	// QSCD states that the key was generated on a qualified device.
	QSCD  bool
	Actor string // who asks for issuance, for the audit log
}

// Prepared is a request that passed every check and whose to-be-signed
// certificate passed lint. Nothing is stored yet. Only the Issuer that made
// it can issue it, once.
type Prepared struct {
	issuer    *Issuer
	used      atomic.Bool
	req       Request
	tmpl      *x509.Certificate
	pub       crypto.PublicKey
	spkiHash  [32]byte
	reqHash   [32]byte // fingerprint of the request's content
	profile   string   // name/version recorded with the certificate
	lintedTBS []byte   // RawTBSCertificate of the certificate that was linted
	subject   string   // the linted certificate's subject, readable (RFC 4514, UTF-8)
	existing  *x509.Certificate
}

// Serial is the serial number the certificate will carry.
func (p *Prepared) Serial() *big.Int {
	if p.existing != nil {
		return p.existing.SerialNumber
	}
	return p.tmpl.SerialNumber
}

// requestHash fingerprints what a request asks for: the key, the profile,
// the identity and QSCD. Each part is length-prefixed so no two requests
// share an encoding.
func requestHash(profile string, qscd bool, spkiHash [32]byte, id policy.Identity) ([32]byte, error) {
	idJSON, err := json.Marshal(id)
	if err != nil {
		return [32]byte{}, fmt.Errorf("issuer: encode identity: %w", err)
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte("muhr-request-v1"), []byte(profile), {boolByte(qscd)}, spkiHash[:], idJSON} {
		_ = binary.Write(h, binary.BigEndian, uint32(len(part)))
		h.Write(part)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// Prepare checks the CSR, builds the certificate from the profile and the
// registered identity, draws a serial and lints the result.
func (i *Issuer) Prepare(ctx context.Context, req Request) (*Prepared, error) {
	if req.ID == "" {
		return nil, fmt.Errorf("%w: request id is empty", ErrRequest)
	}
	checked, err := i.checkCSR(req.CSR)
	if err != nil {
		return nil, err
	}
	hash := sha256.Sum256(checked.spki)
	fp, err := requestHash(req.Profile, req.QSCD, hash, req.Identity)
	if err != nil {
		return nil, err
	}
	if p, err := i.already(ctx, req.ID, fp, hash); p != nil || err != nil {
		return p, err
	}
	used, err := i.opts.Store.IntentsBySPKI(ctx, hash[:])
	if err != nil {
		return nil, fmt.Errorf("issuer: look up key: %w", err)
	}
	for _, in := range used {
		if in.RequestID != req.ID {
			return nil, fmt.Errorf("%w (request %s); the subscriber must generate a new key", ErrKeyReused, in.RequestID)
		}
	}
	serial, err := policy.NewSerial(i.opts.Rand)
	if err != nil {
		return nil, fmt.Errorf("issuer: draw serial: %w", err)
	}
	tmpl, kind, name, err := i.build(req, checked.pub, serial)
	if err != nil {
		return nil, err
	}
	res, linted, err := i.opts.Linter.PreIssueLinted(tmpl, i.cert, checked.pub, kind)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLint, err)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLint, err)
	}
	lc, err := x509.ParseCertificate(linted)
	if err != nil {
		return nil, fmt.Errorf("issuer: linted certificate: %w", err)
	}
	return &Prepared{issuer: i, req: req, tmpl: tmpl, pub: checked.pub, spkiHash: hash, reqHash: fp, profile: name,
		lintedTBS: lc.RawTBSCertificate, subject: policy.SubjectString(lc.RawSubject)}, nil
}

// already returns a Prepared holding the request's certificate when it was
// issued before with the same content, ErrRequestConflict when the id was
// used with other content, and ErrInProgress while another issuance of it is
// under way. A pending intent of a gone holder is abandoned on the spot.
func (i *Issuer) already(ctx context.Context, requestID string, fp, spkiHash [32]byte) (*Prepared, error) {
	in, err := i.opts.Store.LiveIntent(ctx, requestID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("issuer: look up request %s: %w", requestID, err)
	}
	if in.IssuerID != i.ca.ID {
		return nil, fmt.Errorf("%w: request %s belongs to CA %s, not %s", ErrRequestConflict, requestID, in.IssuerID, i.ca.ID)
	}
	same := bytes.Equal(in.RequestHash, fp[:])
	if in.RequestHash == nil {
		// Written before request hashes were kept: the key is all we know.
		same = bytes.Equal(in.SPKIHash, spkiHash[:])
	}
	if !same {
		return nil, fmt.Errorf("%w: request %s (serial %x) asked for another key, profile, identity or QSCD",
			ErrRequestConflict, requestID, in.Serial)
	}
	if in.State == store.IntentPending {
		if ok, err := i.abandonStale(ctx, in, i.opts.Clock().UTC()); err != nil || ok {
			return nil, err
		}
		return nil, fmt.Errorf("%w: request %s has serial %x pending", ErrInProgress, requestID, in.Serial)
	}
	c, err := i.opts.Store.GetCertificate(ctx, in.IssuerID, in.Serial)
	if err != nil {
		return nil, fmt.Errorf("issuer: issued certificate of request %s: %w", requestID, err)
	}
	cert, err := x509.ParseCertificate(c.DER)
	if err != nil {
		return nil, fmt.Errorf("issuer: stored certificate %x: %w", in.Serial, err)
	}
	return &Prepared{issuer: i, req: Request{ID: requestID}, existing: cert}, nil
}

// enter counts an Issue under way; Close waits for them.
func (i *Issuer) enter() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return ErrClosed
	}
	i.inflight.Add(1)
	return nil
}

// Issue records the intent, has the HSM sign and stores the certificate.
// A failure after the intent is written burns the serial; the request can
// be issued again at once.
func (i *Issuer) Issue(ctx context.Context, p *Prepared) (*x509.Certificate, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: nothing prepared", ErrRequest)
	}
	if p.issuer != i {
		return nil, fmt.Errorf("%w: request %s was prepared for another issuer, not CA %s", ErrPreparedElsewhere, p.req.ID, i.ca.ID)
	}
	if !p.used.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: request %s; prepare it again", ErrPreparedUsed, p.req.ID)
	}
	if p.existing != nil {
		return p.existing, nil
	}
	if err := i.enter(); err != nil {
		return nil, err
	}
	defer i.inflight.Done()
	holder, err := i.liveHolder(ctx)
	if err != nil {
		return nil, err
	}
	serial := p.tmpl.SerialNumber
	obj := certObject(i.ca.ID, serial)
	now := i.opts.Clock().UTC()
	intent := store.IssuanceIntent{IssuerID: i.ca.ID, Serial: serial, RequestID: p.req.ID, Profile: p.profile,
		SPKIHash: p.spkiHash[:], State: store.IntentPending, HolderID: holder, RequestHash: p.reqHash[:],
		CreatedAt: now, UpdatedAt: now}
	err = inTx(ctx, i.opts.Store, func(ctx context.Context, tx Tx) error {
		if err := tx.ReserveSerial(ctx, store.SerialReservation{IssuerID: i.ca.ID, Serial: serial, Purpose: p.profile, ReservedAt: now}); err != nil {
			return err
		}
		if err := tx.InsertIntent(ctx, intent); err != nil {
			return err
		}
		_, err := audit.Append(ctx, tx, now, audit.Entry{Actor: p.req.Actor, Action: "issuance.intent", Object: obj,
			Details: map[string]any{"request": p.req.ID, "profile": p.profile, "subject": p.subject,
				"spki_sha256": fmt.Sprintf("%x", p.spkiHash), "holder": holder}})
		return err
	})
	switch {
	case errors.Is(err, store.ErrKeyInUse):
		// The same request racing itself (two processes given the same
		// inputs at once) may hit the key's index before the request id's:
		// that is this request in progress or done, not a key reused.
		q, aerr := i.already(ctx, p.req.ID, p.reqHash, p.spkiHash)
		if aerr != nil {
			return nil, aerr
		}
		if q != nil {
			return q.existing, nil
		}
		return nil, fmt.Errorf("%w: another request took this key at the same moment; the subscriber must generate a new key", ErrKeyReused)
	case errors.Is(err, store.ErrExists):
		// Another issuance of this request won the race.
		q, aerr := i.already(ctx, p.req.ID, p.reqHash, p.spkiHash)
		if aerr != nil {
			return nil, aerr
		}
		if q != nil {
			return q.existing, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("issuer: record intent %s: %w", obj, err)
	}
	if err := i.fail(StageIntentWritten); err != nil {
		return nil, err
	}

	der, err := i.sign(ctx, p)
	if err != nil {
		return nil, i.abandon(ctx, p, intent, fmt.Errorf("%w: %w", ErrSign, err))
	}
	// CreateCertificate has already verified the HSM's signature against
	// the CA's public key (it refuses a misbehaving crypto.Signer), so a
	// second check here would only cost another ECDSA verification.
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, i.abandon(ctx, p, intent, fmt.Errorf("%w: signed certificate does not parse: %v", ErrSign, err))
	}
	// What was linted is what is stored, byte for byte: the stand-in
	// signature of pre-issuance keeps the real signature algorithm, so the
	// two TBSCertificates must be identical.
	if !bytes.Equal(cert.RawTBSCertificate, p.lintedTBS) {
		return nil, i.abandon(ctx, p, intent, fmt.Errorf("%w: serial %x", ErrNotLinted, serial))
	}
	if err := i.fail(StageSigned); err != nil {
		return nil, err
	}

	// The signature is made: store it even if the caller gave up meanwhile.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	done := i.opts.Clock().UTC()
	err = inTx(sctx, i.opts.Store, func(ctx context.Context, tx Tx) error {
		if err := tx.InsertCertificate(ctx, store.Certificate{IssuerID: i.ca.ID, Serial: serial, Subject: policy.SubjectString(cert.RawSubject),
			Profile: p.profile, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, DER: der, Status: store.CertStatusValid}); err != nil {
			return err
		}
		if err := tx.SetIntentState(ctx, i.ca.ID, serial, store.IntentPending, store.IntentIssued, done); err != nil {
			return err
		}
		_, err := audit.Append(ctx, tx, done, audit.Entry{Actor: p.req.Actor, Action: "cert.issue", Object: obj,
			Details: map[string]any{"request": p.req.ID, "profile": p.profile, "subject": policy.SubjectString(cert.RawSubject),
				"sha256": Fingerprint(der), "not_after": cert.NotAfter.UTC().Format("2006-01-02T15:04:05Z")}})
		return err
	})
	if err != nil {
		// The commit may have gone through although it reported an error
		// (a connection lost in COMMIT): then the certificate is stored.
		if in, lerr := i.opts.Store.LiveIntent(sctx, p.req.ID); lerr == nil && in.State == store.IntentIssued &&
			in.IssuerID == i.ca.ID && in.Serial.Cmp(serial) == 0 {
			return cert, nil
		}
		// Never hand out a certificate that is not stored; abandon at once
		// so the request can be retried without waiting for recovery.
		return nil, i.abandon(ctx, p, intent, fmt.Errorf("%w: %s: %w", ErrStore, obj, err))
	}
	i.opts.Log.Info("certificate issued", "ca", i.ca.ID, "serial", fmt.Sprintf("%x", serial), "profile", p.profile, "request", p.req.ID)
	return cert, nil
}

// IssueRequest is Prepare then Issue.
func (i *Issuer) IssueRequest(ctx context.Context, req Request) (*x509.Certificate, error) {
	p, err := i.Prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	return i.Issue(ctx, p)
}

// contextSigner is a signer that takes a deadline (the pkcs11 signer).
type contextSigner interface {
	SignContext(ctx context.Context, rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

// boundSigner makes every signature of the CA key honour ctx.
type boundSigner struct {
	ctx context.Context
	s   crypto.Signer
}

func (b boundSigner) Public() crypto.PublicKey { return b.s.Public() }

func (b boundSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if cs, ok := b.s.(contextSigner); ok {
		return cs.SignContext(b.ctx, r, digest, opts)
	}
	// A signer without a context is left running past the deadline: its
	// late signature is dropped, and the intent is abandoned meanwhile.
	type result struct {
		sig []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		sig, err := b.s.Sign(r, digest, opts)
		ch <- result{sig, err}
	}()
	select {
	case res := <-ch:
		return res.sig, res.err
	case <-b.ctx.Done():
		return nil, fmt.Errorf("HSM gave no signature in time: %w", context.Cause(b.ctx))
	}
}

// sign has the CA key sign the certificate within the sign timeout.
func (i *Issuer) sign(ctx context.Context, p *Prepared) ([]byte, error) {
	sctx, cancel := context.WithTimeout(ctx, i.opts.SignTimeout)
	defer cancel()
	return i.opts.makeCert(i.opts.Rand, p.tmpl, i.cert, p.pub, boundSigner{ctx: sctx, s: i.signer})
}

// abandon burns the serial of an issuance that failed before anything was
// stored, so the request can be retried at once. When the database is away
// too, the intent is kept and the background loop retries.
func (i *Issuer) abandon(ctx context.Context, p *Prepared, in store.IssuanceIntent, cause error) error {
	o := orphan{intent: in, actor: p.req.Actor, reason: cause.Error()}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := i.abandonOwn(actx, o); err != nil {
		i.opts.Log.Error("abandon failed issuance; will retry", "serial", fmt.Sprintf("%x", in.Serial), "err", err)
		i.mu.Lock()
		i.orphans[in.Serial.Text(16)] = o
		i.mu.Unlock()
	}
	return cause
}

// abandonOwn abandons an intent of this holder; nil too when it is no longer
// pending (a recoverer took it).
func (i *Issuer) abandonOwn(ctx context.Context, o orphan) error {
	now := i.opts.Clock().UTC()
	err := inTx(ctx, i.opts.Store, func(ctx context.Context, tx Tx) error {
		if err := tx.SetIntentState(ctx, o.intent.IssuerID, o.intent.Serial, store.IntentPending, store.IntentAbandoned, now); err != nil {
			return err
		}
		_, err := audit.Append(ctx, tx, now, audit.Entry{Actor: o.actor, Action: "issuance.abandon",
			Object: certObject(o.intent.IssuerID, o.intent.Serial), Details: map[string]any{"request": o.intent.RequestID,
				"holder": o.intent.HolderID, "reason": o.reason}})
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// retryOrphans abandons this holder's intents whose abandonment failed.
func (i *Issuer) retryOrphans(ctx context.Context) {
	i.mu.Lock()
	list := make([]orphan, 0, len(i.orphans))
	for _, o := range i.orphans {
		list = append(list, o)
	}
	i.mu.Unlock()
	for _, o := range list {
		if err := i.abandonOwn(ctx, o); err != nil {
			i.opts.Log.Error("abandon failed issuance", "serial", fmt.Sprintf("%x", o.intent.Serial), "err", err)
			continue
		}
		i.mu.Lock()
		delete(i.orphans, o.intent.Serial.Text(16))
		i.mu.Unlock()
	}
}

func (i *Issuer) fail(s Stage) error {
	if i.opts.failpoint == nil {
		return nil
	}
	return i.opts.failpoint(s)
}
