package checkpoint

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/store"
)

// LeaseName is the database lease that gives the checkpoint of an interval
// to one process.
const LeaseName = "audit.checkpoint"

// Keys is what the writer needs from the token.
type Keys interface {
	Signer(ctx context.Context, label string) (crypto.Signer, error)
	Generate(ctx context.Context, label string, alg hsm.KeyAlgorithm) (crypto.Signer, error)
}

// Store is what the writer needs from the database: the lease, the chain
// and CA certificates to read, and a transaction to audit in.
type Store interface {
	store.Leases
	AuditRecords(ctx context.Context, afterSeq int64, limit int) ([]store.AuditRecord, error)
	ListCAs(ctx context.Context) ([]store.CA, error)
	InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error
}

// Writer writes a checkpoint every Interval. Any number of processes may
// run one on a database: the one that takes the lease (held for Interval)
// writes, the others find it taken until it expires, so one checkpoint is
// written per interval. A checkpoint that cannot be signed or timestamped
// is not written; the lease is given up so the next poll (of any process)
// retries, and Health reports the failure until a checkpoint is written.
type Writer struct {
	Store    Store
	Keys     Keys
	KeyLabel string
	KeyAlg   hsm.KeyAlgorithm
	TSA      Timestamper
	Dir      Dir
	Interval time.Duration
	// Poll is how often a process not holding the lease tries it (default
	// Interval/10, at most 15 s).
	Poll   time.Duration
	Holder string
	Actor  string
	Clock  func() time.Time
	Log    *slog.Logger

	mu      sync.Mutex
	signer  crypto.Signer
	keyID   string
	follow  audit.Head // the head of the last checkpoint this writer wrote or read
	started bool
	next    time.Time // while this writer holds the lease: when it next writes
	metrics *metrics

	// hmu guards lastErr alone, so a health probe never waits for a
	// checkpoint being signed or timestamped.
	hmu     sync.Mutex
	lastErr error
}

type metrics struct {
	total    *prometheus.CounterVec
	lastSeq  prometheus.Gauge
	lastTime prometheus.Gauge
}

// Register exposes the writer's metrics on reg.
func (w *Writer) Register(reg prometheus.Registerer) error {
	m := &metrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "muhr_audit_checkpoints_total",
			Help: "Audit checkpoint attempts by this process, by result (written, failed)."}, []string{"result"}),
		lastSeq: prometheus.NewGauge(prometheus.GaugeOpts{Name: "muhr_audit_checkpoint_last_seq",
			Help: "Audit record seq of the last checkpoint this process wrote."}),
		lastTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "muhr_audit_checkpoint_last_written_timestamp_seconds",
			Help: "Unix time of the last checkpoint this process wrote."}),
	}
	for _, c := range []prometheus.Collector{m.total, m.lastSeq, m.lastTime} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	m.total.WithLabelValues("written")
	m.total.WithLabelValues("failed")
	w.metrics = m
	return nil
}

func (w *Writer) now() time.Time {
	if w.Clock != nil {
		return w.Clock()
	}
	return time.Now()
}

func (w *Writer) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (w *Writer) poll() time.Duration {
	if w.Poll > 0 {
		return w.Poll
	}
	return min(max(w.Interval/10, 100*time.Millisecond), 15*time.Second)
}

// Run writes checkpoints until ctx ends, then gives up the lease.
func (w *Writer) Run(ctx context.Context) {
	t := time.NewTicker(w.poll())
	defer t.Stop()
	for {
		if _, err := w.Tick(ctx); err != nil && ctx.Err() == nil {
			w.log().Error("audit checkpoint not written; retrying", "err", err.Error(), "retry_in", w.poll())
		}
		select {
		case <-ctx.Done():
			// Not released: the lease marks when the last checkpoint was
			// written, so a successor waits out the interval.
			return
		case <-t.C:
		}
	}
}

// Health is nil unless the last attempt of this process failed.
func (w *Writer) Health(context.Context) error {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	return w.lastErr
}

func (w *Writer) setErr(err error) {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	w.lastErr = err
}

// Tick writes a checkpoint if one is due and this process gets the lease.
func (w *Writer) Tick(ctx context.Context) (*File, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if !w.next.IsZero() && now.Before(w.next) {
		return nil, nil // ours until next
	}
	ok, err := w.Store.AcquireLease(ctx, LeaseName, w.Holder, now, w.Interval)
	if err != nil {
		return nil, w.failed(fmt.Errorf("checkpoint lease: %w", err))
	}
	if !ok {
		w.next = time.Time{}
		w.setErr(nil) // another process writes this interval's
		return nil, nil
	}
	f, err := w.write(ctx, now)
	if err != nil {
		w.next = time.Time{}
		if rerr := w.Store.ReleaseLease(context.WithoutCancel(ctx), LeaseName, w.Holder); rerr != nil {
			w.log().Warn("audit checkpoint: release lease", "err", rerr.Error())
		}
		return nil, w.failed(err)
	}
	w.next = now.Add(w.Interval)
	w.setErr(nil)
	if w.metrics != nil {
		w.metrics.total.WithLabelValues("written").Inc()
		w.metrics.lastSeq.Set(float64(f.Seq))
		w.metrics.lastTime.Set(float64(f.Time.Unix()))
	}
	w.log().Info("audit checkpoint written", "number", f.Number, "seq", f.Seq, "hash", f.Hash,
		"tsa_serial", f.TSASerial, "file", fileName(f.Number))
	return f, nil
}

func (w *Writer) failed(err error) error {
	w.setErr(err)
	if w.metrics != nil {
		w.metrics.total.WithLabelValues("failed").Inc()
	}
	return err
}

func (w *Writer) write(ctx context.Context, now time.Time) (*File, error) {
	if !w.started {
		// The head this directory last vouched for: the chain must still
		// extend it, or this writer refuses to sign.
		ns, err := w.Dir.Numbers()
		if err != nil {
			return nil, err
		}
		if len(ns) > 0 {
			last, err := w.Dir.Load(ns[len(ns)-1])
			if err != nil {
				return nil, err
			}
			if w.follow, err = last.Head(); err != nil {
				return nil, err
			}
		}
		w.started = true
	}
	w.Dir.CleanTemp(now, w.Interval)
	signer, err := w.key(ctx, now)
	if err != nil {
		return nil, err
	}
	head, err := audit.Follow(ctx, w.Store, w.follow, audit.DefaultPageSize)
	if err != nil {
		return nil, fmt.Errorf("the chain does not extend checkpointed record %d: %w", w.follow.Seq, err)
	}
	if head.Seq == 0 {
		return nil, errors.New("the audit log is empty; nothing to checkpoint")
	}
	number, err := w.Dir.Next()
	if err != nil {
		return nil, err
	}
	at := now.UTC().Truncate(time.Microsecond)
	signed := SignedBytes(number, head.Seq, head.Hash, at, w.keyID)
	digest := sha256.Sum256(signed)
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign with %s: %w", w.KeyLabel, err)
	}
	if err := verifySignature(signer.Public(), signed, sig); err != nil {
		return nil, fmt.Errorf("the token's signature does not verify: %w", err)
	}
	token, v, err := w.timestamp(ctx, signed)
	if err != nil {
		return nil, fmt.Errorf("timestamp (no checkpoint without one): %w", err)
	}
	_, spki, _ := KeyID(signer.Public())
	alg, _ := signatureAlgorithm(signer.Public())
	f := &File{Format: Format, Number: number, Seq: head.Seq, Hash: fmt.Sprintf("%x", head.Hash), Time: at,
		KeyID: w.keyID, KeyLabel: w.KeyLabel, PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})),
		SignatureAlgorithm: alg, Signed: base64.StdEncoding.EncodeToString(signed),
		Signature: base64.StdEncoding.EncodeToString(sig), TimestampToken: base64.StdEncoding.EncodeToString(token),
		TSASerial: v.Serial, TSAGenTime: v.GenTime.UTC()}
	if err := w.Dir.Write(f); err != nil {
		return nil, err
	}
	w.follow = head
	err = w.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := audit.Append(ctx, tx, now, audit.Entry{Actor: w.Actor, Action: Action,
			Object: fmt.Sprintf("audit/checkpoint/%d", number),
			Details: map[string]any{"number": number, "seq": head.Seq, "hash": f.Hash, "key_id": w.keyID,
				"tsa_serial": v.Serial, "tsa_gen_time": v.GenTime.UTC(), "file": fileName(number)}})
		return err
	})
	if err != nil {
		// The file stands (it is a valid checkpoint); the missing record is
		// reported and the next checkpoint is audited as usual.
		w.log().Error("audit checkpoint written but its audit record failed", "number", number, "err", err.Error())
	}
	return f, nil
}

// key finds the checkpoint key, or makes it on the token (under the lease,
// so two processes never make two keys under one label) and audits it.
func (w *Writer) key(ctx context.Context, now time.Time) (crypto.Signer, error) {
	if w.signer != nil {
		return w.signer, nil
	}
	s, err := w.Keys.Signer(ctx, w.KeyLabel)
	if errors.Is(err, hsm.ErrKeyNotFound) {
		s, err = w.Keys.Generate(ctx, w.KeyLabel, w.KeyAlg)
		if err != nil {
			return nil, fmt.Errorf("make checkpoint key %s: %w", w.KeyLabel, err)
		}
		id, spki, err := KeyID(s.Public())
		if err != nil {
			return nil, err
		}
		w.log().Info("audit checkpoint key made on the token", "label", w.KeyLabel, "key_id", id)
		err = w.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			if _, err := audit.Append(ctx, tx, now, audit.Entry{Actor: w.Actor, Action: "key.generate", Object: "key/" + w.KeyLabel,
				Details: map[string]any{"algorithm": string(w.KeyAlg), "sensitive": true, "extractable": false}}); err != nil {
				return err
			}
			_, err := audit.Append(ctx, tx, now, KeyEntry(w.Actor, w.KeyLabel, id, spki))
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("audit the new checkpoint key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("checkpoint key %s: %w", w.KeyLabel, err)
	}
	if _, err := signatureAlgorithm(s.Public()); err != nil {
		return nil, err
	}
	id, _, err := KeyID(s.Public())
	if err != nil {
		return nil, err
	}
	w.signer, w.keyID = s, id
	return s, nil
}

// KeyEntry is the audit record that names a checkpoint key: its label, id
// and public key (base64 SubjectPublicKeyInfo).
func KeyEntry(actor, label, keyID string, spki []byte) audit.Entry {
	return audit.Entry{Actor: actor, Action: ActionKey, Object: "key/" + label,
		Details: map[string]any{"label": label, "key_id": keyID, "public_key": base64.StdEncoding.EncodeToString(spki)}}
}

// timestamp asks the TSA for a token over signed and checks it.
func (w *Writer) timestamp(ctx context.Context, signed []byte) ([]byte, Verified, error) {
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, Verified{}, err
	}
	req, err := timestamp.CreateRequest(bytes.NewReader(signed), &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: true, Nonce: nonce})
	if err != nil {
		return nil, Verified{}, err
	}
	resp, err := w.TSA.Timestamp(ctx, req)
	if err != nil {
		return nil, Verified{}, err
	}
	ts, err := timestamp.ParseResponse(resp)
	if err != nil {
		return nil, Verified{}, fmt.Errorf("TSA answer: %w", err)
	}
	if ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0 {
		return nil, Verified{}, errors.New("TSA answer: nonce does not match the request")
	}
	trust, err := TrustFromCAs(ctx, w.Store)
	if err != nil {
		return nil, Verified{}, err
	}
	v, err := verifyToken(ts.RawToken, signed, trust)
	if err != nil {
		return nil, Verified{}, err
	}
	return ts.RawToken, v, nil
}

// CALister lists the center's CAs.
type CALister interface {
	ListCAs(ctx context.Context) ([]store.CA, error)
}

// TrustFromCAs is the center's CAs as a Trust: the self-signed ones are
// roots, the others intermediates.
func TrustFromCAs(ctx context.Context, r CALister) (Trust, error) {
	cas, err := r.ListCAs(ctx)
	if err != nil {
		return Trust{}, fmt.Errorf("list CAs: %w", err)
	}
	t := Trust{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	roots := 0
	for _, c := range cas {
		cert, err := x509.ParseCertificate(c.CertDER)
		if err != nil {
			return Trust{}, fmt.Errorf("CA %s: %w", c.ID, err)
		}
		if c.ParentID == "" {
			t.Roots.AddCert(cert)
			roots++
		} else {
			t.Intermediates.AddCert(cert)
		}
	}
	if roots == 0 {
		return Trust{}, errors.New("no root CA in the database to check timestamps against")
	}
	return t, nil
}
