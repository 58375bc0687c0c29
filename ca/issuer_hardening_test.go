package ca_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/store"
)

// abandons counts the issuance.abandon audit records.
func abandons(t testing.TB, st store.Store) int {
	t.Helper()
	recs, err := st.AuditRecords(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Action == "issuance.abandon" {
			n++
		}
	}
	return n
}

func personRequest(t testing.TB, id string) ca.Request {
	return ca.Request{ID: id, Profile: "qes-person", CSR: csrFor(t, newKey(t), nil), Identity: identity(t, personJSON), Actor: "officer-a"}
}

// The observed failure: a second issuer starting while the first has signed
// and not yet stored abandoned the first's intent and wrote a false
// "interrupted issuance" record. Now the first finishes and nothing is
// abandoned.
func TestSecondIssuerLeavesLiveIssuanceAlone(t *testing.T) {
	ctx := context.Background()
	c := newCenter(t, "sqlite")
	signed, resume := make(chan struct{}), make(chan struct{})
	first := c.issuer(t, "qca-demo", c.keys, func(s ca.Stage) error {
		if s == ca.StageSigned {
			close(signed)
			<-resume
		}
		return nil
	})
	req := personRequest(t, "r-live")
	type result struct {
		cert *x509.Certificate
		err  error
	}
	done := make(chan result, 1)
	go func() {
		cert, err := first.IssueRequest(ctx, req)
		done <- result{cert, err}
	}()
	<-signed
	second := c.issuer(t, "qca-demo", c.keys, nil)
	if n, err := second.Recover(ctx); n != 0 || err != nil {
		t.Errorf("Recover with the holder alive = %d, %v", n, err)
	}
	close(resume)
	res := <-done
	if res.err != nil {
		t.Fatalf("the first issuance failed after a second issuer started: %v", res.err)
	}
	if n := abandons(t, c.st); n != 0 {
		t.Fatalf("%d abandon records for a live issuance", n)
	}
	if got, err := second.IssueRequest(ctx, req); err != nil || got.SerialNumber.Cmp(res.cert.SerialNumber) != 0 {
		t.Fatalf("the same request through the second issuer: %v", err)
	}
}

// A live holder renews its lease and keeps its intents; once it stops
// renewing and the lease runs out, another issuer abandons them, once.
func TestLeaseRenewalAndExpiry(t *testing.T) {
	ctx := context.Background()
	c := newCenter(t, "sqlite")
	clk := newFakeClock()
	lease := time.Minute
	crash := errors.New("simulated crash")
	a := c.issuerWith(t, "qca-demo", func(o *ca.IssuerOptions) {
		o.Clock, o.Lease = clk.Now, lease
		ca.SetFailpoint(o, func(s ca.Stage) error {
			if s == ca.StageIntentWritten {
				return crash
			}
			return nil
		})
	})
	b := c.issuerWith(t, "qca-demo", func(o *ca.IssuerOptions) { o.Clock, o.Lease = clk.Now, lease })
	if _, err := a.IssueRequest(ctx, personRequest(t, "r-a")); !errors.Is(err, crash) {
		t.Fatalf("Issue = %v", err)
	}
	// Two thirds of a lease, renew, two thirds again: past the first lease
	// but inside the renewed one.
	clk.Advance(lease * 2 / 3)
	if err := a.RenewNow(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(lease * 2 / 3)
	if n, err := b.Recover(ctx); n != 0 || err != nil {
		t.Fatalf("Recover with a renewed lease = %d, %v", n, err)
	}
	h, err := c.st.GetHolder(ctx, a.HolderID())
	if err != nil || !strings.Contains(h.Info, "pid") || h.IssuerID != "qca-demo" {
		t.Fatalf("holder row = %+v, %v", h, err)
	}

	// a stops renewing (as kill -9 would); its lease runs out.
	a.Halt()
	clk.Advance(lease + time.Second)
	if err := b.RenewNow(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Recover(ctx); n != 1 || err != nil {
		t.Fatalf("Recover after the lease ran out = %d, %v", n, err)
	}
	if n, err := b.Recover(ctx); n != 0 || err != nil {
		t.Fatalf("second Recover = %d, %v", n, err)
	}
	if n := abandons(t, c.st); n != 1 {
		t.Fatalf("%d abandon records, want 1", n)
	}
	if _, err := b.IssueRequest(ctx, personRequest(t, "r-a")); err != nil {
		t.Fatalf("retry after recovery: %v", err)
	}

	// A holder whose lease ran out is not revived: it registers anew.
	old := b.HolderID()
	clk.Advance(lease + time.Second)
	if err := b.RenewNow(ctx); err != nil {
		t.Fatal(err)
	}
	if b.HolderID() == old {
		t.Fatal("a lapsed lease was renewed in place")
	}
	if _, err := b.IssueRequest(ctx, personRequest(t, "r-b")); err != nil {
		t.Fatalf("issue under the new holder: %v", err)
	}
}

// A stale pending intent of the same request is abandoned on the spot when
// the request comes again, instead of answering ErrInProgress until the
// next recovery.
func TestRetryTakesOverStaleIntent(t *testing.T) {
	ctx := context.Background()
	c := newCenter(t, "sqlite")
	clk := newFakeClock()
	crash := errors.New("simulated crash")
	a := c.issuerWith(t, "qca-demo", func(o *ca.IssuerOptions) {
		o.Clock = clk.Now
		ca.SetFailpoint(o, func(s ca.Stage) error {
			if s == ca.StageSigned {
				return crash
			}
			return nil
		})
	})
	b := c.issuerWith(t, "qca-demo", func(o *ca.IssuerOptions) { o.Clock = clk.Now })
	req := personRequest(t, "r")
	if _, err := a.IssueRequest(ctx, req); !errors.Is(err, crash) {
		t.Fatal(err)
	}
	if _, err := b.IssueRequest(ctx, req); !errors.Is(err, ca.ErrInProgress) {
		t.Fatalf("while the holder lives: %v", err)
	}
	a.Halt()
	clk.Advance(ca.DefaultLease + time.Second)
	if err := b.RenewNow(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.IssueRequest(ctx, req); err != nil {
		t.Fatalf("after the holder is gone: %v", err)
	}
	if n := abandons(t, c.st); n != 1 {
		t.Fatalf("%d abandon records, want 1", n)
	}
}

func TestPreparedBoundToItsIssuerAndUsedOnce(t *testing.T) {
	ctx := context.Background()
	c := newCenter(t, "sqlite")
	qca := c.issuer(t, "qca-demo", c.keys, nil)
	mgmt := c.issuer(t, "mgmt-demo", c.keys, nil)
	qca2 := c.issuer(t, "qca-demo", c.keys, nil)
	p, err := qca.Prepare(ctx, personRequest(t, "r-bound"))
	if err != nil {
		t.Fatal(err)
	}
	// A QCP-n certificate must never come out of the management CA, nor
	// out of another issuer of the same CA.
	for name, other := range map[string]*ca.Issuer{"management CA": mgmt, "another issuer of the CA": qca2} {
		if _, err := other.Issue(ctx, p); !errors.Is(err, ca.ErrPreparedElsewhere) {
			t.Fatalf("Issue by the %s: %v", name, err)
		}
	}
	if in, err := c.st.PendingIntents(ctx); err != nil || len(in) != 0 {
		t.Fatalf("a refused Issue left intents: %v %v", in, err)
	}
	cert, err := qca.Issue(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Issuer.CommonName != qca.CA().Subject.CommonName {
		t.Fatalf("issued by %s", cert.Issuer)
	}
	if _, err := qca.Issue(ctx, p); !errors.Is(err, ca.ErrPreparedUsed) {
		t.Fatalf("second Issue of one Prepared: %v", err)
	}
	// A Prepared crashed out of Issue is used too.
	crash := errors.New("simulated crash")
	failing := c.issuer(t, "qca-demo", c.keys, func(s ca.Stage) error {
		if s == ca.StageIntentWritten {
			return crash
		}
		return nil
	})
	q, err := failing.Prepare(ctx, personRequest(t, "r-crash"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := failing.Issue(ctx, q); !errors.Is(err, crash) {
		t.Fatal(err)
	}
	if _, err := failing.Issue(ctx, q); !errors.Is(err, ca.ErrPreparedUsed) {
		t.Fatalf("Issue again after a crash: %v", err)
	}
}

// A signing path that changes the certificate after lint: what it signed
// is never stored, the serial is burned, and the request can be retried.
func TestTamperedCertificateIsNotStored(t *testing.T) {
	ctx := context.Background()
	c := newCenter(t, "sqlite")
	tampers := map[string]func(tmpl *x509.Certificate){
		"validity":  func(tmpl *x509.Certificate) { tmpl.NotAfter = tmpl.NotAfter.AddDate(5, 0, 0) },
		"dns name":  func(tmpl *x509.Certificate) { tmpl.DNSNames = append(tmpl.DNSNames, "www.google.com") },
		"key usage": func(tmpl *x509.Certificate) { tmpl.KeyUsage |= x509.KeyUsageCertSign },
	}
	n := 0
	for name, tamper := range tampers {
		t.Run(name, func(t *testing.T) {
			n++
			iss := c.issuerWith(t, "qca-demo", func(o *ca.IssuerOptions) {
				ca.SetCertificateMaker(o, func(r io.Reader, tmpl, parent *x509.Certificate, pub, priv any) ([]byte, error) {
					changed := *tmpl
					tamper(&changed)
					return x509.CreateCertificate(r, &changed, parent, pub, priv)
				})
			})
			req := personRequest(t, "r-tamper-"+name)
			p, err := iss.Prepare(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := iss.Issue(ctx, p); !errors.Is(err, ca.ErrNotLinted) {
				t.Fatalf("tampered certificate: %v", err)
			}
			if _, err := c.st.GetCertificate(ctx, "qca-demo", p.Serial()); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("tampered certificate stored: %v", err)
			}
			if _, err := c.st.LiveIntent(ctx, req.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("intent of the tampered certificate still live: %v", err)
			}
			if got := abandons(t, c.st); got != n {
				t.Fatalf("%d abandon records, want %d", got, n)
			}
			honest := c.issuer(t, "qca-demo", c.keys, nil)
			if _, err := honest.IssueRequest(ctx, req); err != nil {
				t.Fatalf("retry: %v", err)
			}
		})
	}
}

func TestRequestIDBoundToContent(t *testing.T) {
	ctx := context.Background()
	c := newCenter(t, "sqlite")
	qca := c.issuer(t, "qca-demo", c.keys, nil)
	mgmt := c.issuer(t, "mgmt-demo", c.keys, nil)
	key := newKey(t)
	req := ca.Request{ID: "r", Profile: "qes-person", CSR: csrFor(t, key, nil), Identity: identity(t, personJSON), Actor: "a"}
	first, err := qca.IssueRequest(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// The same content, even in a fresh CSR for the same key: the same certificate.
	same := req
	same.CSR = csrFor(t, key, nil)
	same.Actor = "someone else"
	if got, err := qca.IssueRequest(ctx, same); err != nil || got.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("same request again: %v", err)
	}
	otherPerson := identity(t, strings.Replace(personJSON, "123456789012", "123456789013", 1))
	changes := map[string]func(r *ca.Request){
		"key":      func(r *ca.Request) { r.CSR = csrFor(t, newKey(t), nil) },
		"profile":  func(r *ca.Request) { r.Profile, r.Identity = "qseal-org", identity(t, orgJSON) },
		"identity": func(r *ca.Request) { r.Identity = otherPerson },
		"qscd":     func(r *ca.Request) { r.QSCD = true },
	}
	for name, change := range changes {
		r := req
		change(&r)
		if _, err := qca.IssueRequest(ctx, r); !errors.Is(err, ca.ErrRequestConflict) {
			t.Errorf("same id, other %s: %v", name, err)
		}
	}
	// The same id at another CA.
	off := req
	off.Profile = "officer"
	if _, err := mgmt.IssueRequest(ctx, off); !errors.Is(err, ca.ErrRequestConflict) {
		t.Errorf("same id at another CA: %v", err)
	}
	if in, _ := c.st.PendingIntents(ctx); len(in) != 0 {
		t.Fatalf("conflicts left intents: %v", in)
	}
}

// Two requests for one key, both prepared before either is issued (so both
// passed the look-up): the database lets exactly one through.
func TestOneKeyCertifiedOnce(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			c := newCenter(t, backend)
			qca := c.issuer(t, "qca-demo", c.keys, nil)
			qca2 := c.issuer(t, "qca-demo", c.keys, nil)
			key := newKey(t)
			const n = 4
			prepared := make([]*ca.Prepared, n)
			issuers := make([]*ca.Issuer, n)
			for k := range n {
				issuers[k] = []*ca.Issuer{qca, qca2}[k%2]
				p, err := issuers[k].Prepare(ctx, ca.Request{ID: fmt.Sprintf("r-%d", k), Profile: "qes-person",
					CSR: csrFor(t, key, nil), Identity: identity(t, personJSON), Actor: "a"})
				if err != nil {
					t.Fatal(err)
				}
				prepared[k] = p
			}
			errs := make([]error, n)
			var wg sync.WaitGroup
			for k := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[k] = issuers[k].Issue(ctx, prepared[k])
				}()
			}
			wg.Wait()
			issued := 0
			for _, err := range errs {
				switch {
				case err == nil:
					issued++
				case !errors.Is(err, ca.ErrKeyReused):
					t.Errorf("Issue: %v", err)
				}
			}
			if issued != 1 {
				t.Fatalf("%d certificates for one key (errors %v)", issued, errs)
			}
			if _, err := audit.Verify(ctx, c.st); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// flakyStore fails every transaction while down is set, as a database that
// went away would.
type flakyStore struct {
	store.Store
	down atomic.Bool
	// certFails makes only the transaction storing the certificate fail.
	certFails atomic.Bool
}

var errDBAway = errors.New("database went away")

func (s *flakyStore) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	if s.down.Load() {
		return errDBAway
	}
	return s.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return fn(ctx, flakyTx{tx, s})
	})
}

type flakyTx struct {
	store.Tx
	s *flakyStore
}

func (t flakyTx) InsertCertificate(ctx context.Context, c store.Certificate) error {
	if t.s.certFails.Load() {
		return errDBAway
	}
	return t.Tx.InsertCertificate(ctx, c)
}

// A store failure after the HSM signed abandons the intent at once: the
// request can be retried straight away, not ErrInProgress until restart.
func TestStoreFailureAfterSignAbandonsAtOnce(t *testing.T) {
	ctx := context.Background()
	c := newCenter(t, "sqlite")
	fs := &flakyStore{Store: c.st}
	iss := c.issuerWith(t, "qca-demo", func(o *ca.IssuerOptions) { o.Store = fs })
	req := personRequest(t, "r")
	fs.certFails.Store(true)
	p, err := iss.Prepare(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Issue(ctx, p); !errors.Is(err, ca.ErrStore) || !errors.Is(err, errDBAway) {
		t.Fatalf("Issue with the store failing: %v", err)
	}
	if _, err := c.st.LiveIntent(ctx, "r"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("intent still live after the store failure: %v", err)
	}
	if n := abandons(t, c.st); n != 1 {
		t.Fatalf("%d abandon records, want 1", n)
	}
	fs.certFails.Store(false)
	cert, err := iss.IssueRequest(ctx, req)
	if err != nil {
		t.Fatalf("immediate retry: %v", err)
	}
	if cert.SerialNumber.Cmp(p.Serial()) == 0 {
		t.Fatal("burned serial reused")
	}
}

// When the database is away for the abandonment too, the issuer keeps the
// intent and abandons it once the database is back (here: at Close).
func TestAbandonRetriedWhenDatabaseReturns(t *testing.T) {
	ctx := context.Background()
	c := newCenter(t, "sqlite")
	fs := &flakyStore{Store: c.st}
	o := ca.IssuerOptions{CAID: "qca-demo", Store: fs, Keys: c.keys, Settings: settings()}
	ca.SetFailpoint(&o, func(s ca.Stage) error {
		if s == ca.StageSigned {
			fs.down.Store(true)
		}
		return nil
	})
	iss, err := ca.NewIssuer(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.IssueRequest(ctx, personRequest(t, "r")); !errors.Is(err, ca.ErrStore) {
		t.Fatalf("Issue with the database away: %v", err)
	}
	if in, _ := c.st.PendingIntents(ctx); len(in) != 1 {
		t.Fatalf("pending = %v, want the one intent kept", in)
	}
	fs.down.Store(false)
	if err := iss.Close(); err != nil {
		t.Fatal(err)
	}
	if in, _ := c.st.PendingIntents(ctx); len(in) != 0 {
		t.Fatalf("pending after the database returned: %v", in)
	}
	if n := abandons(t, c.st); n != 1 {
		t.Fatalf("%d abandon records, want 1", n)
	}
}

// stuckKeys hands out signers that never answer until released.
type stuckKeys struct {
	inner interface {
		Signer(context.Context, string) (crypto.Signer, error)
	}
	release chan struct{}
	withCtx bool
	sawDL   *atomic.Bool
}

type stuckSigner struct {
	crypto.Signer
	release chan struct{}
}

func (s stuckSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	<-s.release
	return s.Signer.Sign(r, d, o)
}

type stuckContextSigner struct {
	stuckSigner
	sawDL *atomic.Bool
}

func (s stuckContextSigner) SignContext(ctx context.Context, r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	if _, ok := ctx.Deadline(); ok {
		s.sawDL.Store(true)
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.release:
		return s.Signer.Sign(r, d, o)
	}
}

func (k stuckKeys) Signer(ctx context.Context, label string) (crypto.Signer, error) {
	s, err := k.inner.Signer(ctx, label)
	if err != nil {
		return nil, err
	}
	if k.withCtx {
		return stuckContextSigner{stuckSigner{s, k.release}, k.sawDL}, nil
	}
	return stuckSigner{s, k.release}, nil
}

// An HSM that never answers: the sign deadline ends the wait, the intent is
// abandoned and the request can be retried.
func TestSignDeadline(t *testing.T) {
	for _, withCtx := range []bool{false, true} {
		t.Run(fmt.Sprintf("SignContext=%v", withCtx), func(t *testing.T) {
			ctx := context.Background()
			c := newCenter(t, "sqlite")
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			var sawDL atomic.Bool
			iss := c.issuerWith(t, "qca-demo", func(o *ca.IssuerOptions) {
				o.Keys = stuckKeys{inner: c.keys, release: release, withCtx: withCtx, sawDL: &sawDL}
				o.SignTimeout = 50 * time.Millisecond
			})
			req := personRequest(t, "r")
			_, err := iss.IssueRequest(ctx, req)
			if !errors.Is(err, ca.ErrSign) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("sign with a stuck HSM: %v", err)
			}
			if withCtx && !sawDL.Load() {
				t.Error("SignContext got no deadline")
			}
			if _, err := c.st.LiveIntent(ctx, "r"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("intent still live after the sign timeout: %v", err)
			}
			if n := abandons(t, c.st); n != 1 {
				t.Fatalf("%d abandon records, want 1", n)
			}
			honest := c.issuer(t, "qca-demo", c.keys, nil)
			if _, err := honest.IssueRequest(ctx, req); err != nil {
				t.Fatalf("retry: %v", err)
			}
		})
	}
}

// The background loop renews the lease of a live issuer and recovers the
// intents of a gone one without anyone calling Recover.
func TestBackgroundRenewalAndRecovery(t *testing.T) {
	ctx := context.Background()
	c := newCenter(t, "sqlite")
	const lease = 600 * time.Millisecond
	crash := errors.New("simulated crash")
	a := c.issuerWith(t, "qca-demo", func(o *ca.IssuerOptions) {
		o.Lease = lease
		ca.SetFailpoint(o, func(s ca.Stage) error {
			if s == ca.StageIntentWritten {
				return crash
			}
			return nil
		})
	})
	if _, err := a.IssueRequest(ctx, personRequest(t, "r")); !errors.Is(err, crash) {
		t.Fatal(err)
	}
	first, err := c.st.GetHolder(ctx, a.HolderID())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the lease is renewed", func() bool {
		h, err := c.st.GetHolder(ctx, first.ID)
		return err == nil && h.ExpiresAt.After(first.ExpiresAt)
	})
	a.Halt()
	_ = c.issuerWith(t, "qca-demo", func(o *ca.IssuerOptions) { o.Lease = lease })
	eventually(t, "the gone issuer's intent is recovered", func() bool {
		in, err := c.st.PendingIntents(ctx)
		return err == nil && len(in) == 0
	})
	if n := abandons(t, c.st); n != 1 {
		t.Fatalf("%d abandon records, want 1", n)
	}
}

// eventually polls cond until it holds, failing after a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
