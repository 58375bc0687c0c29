package ocsp_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/asn1"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/httpx"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/ocsp"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

const caID = "qca-demo"

// env is the demo hierarchy on a SoftHSM2 token and SQLite, an Authority
// on it and a Responder on loopback, mounted as muhrd mounts it.
type env struct {
	p      *tsatest.PKI
	st     *flakyStore
	db     *sql.DB
	auth   *ocsp.Authority
	url    string
	dir    string
	caKey  crypto.Signer
	now    atomic.Pointer[time.Time] // nil: the real clock
	serial int64
}

// flakyStore is the real store that can be made to fail every read, as a
// database that went away does.
type flakyStore struct {
	store.Store
	down atomic.Bool
	// afterRead, when set, runs once after GetCertificate has read its row:
	// a status change that commits while an answer is being made.
	afterRead atomic.Pointer[func()]
	reads     atomic.Int64 // GetCertificate calls
}

var errDown = store.ErrUnavailable

func (f *flakyStore) GetCertificate(ctx context.Context, id string, s *big.Int) (store.Certificate, error) {
	f.reads.Add(1)
	if f.down.Load() {
		return store.Certificate{}, errDown
	}
	c, err := f.Store.GetCertificate(ctx, id, s)
	if fn := f.afterRead.Swap(nil); fn != nil {
		(*fn)()
	}
	return c, err
}

func (f *flakyStore) CertificatesAfter(ctx context.Context, id string, s *big.Int, n int) ([]store.Certificate, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.Store.CertificatesAfter(ctx, id, s, n)
}

const validity = time.Hour

func newEnv(t *testing.T) *env { t.Helper(); return newEnvWith(t, nil) }

// newEnvWith is newEnv with the Authority's options changed by mod.
func newEnvWith(t *testing.T, mod func(*ocsp.Options)) *env {
	t.Helper()
	st := tsatest.SQLite(t)
	p := tsatest.NewPKI(t, st)
	ctx := context.Background()
	e := &env{p: p, st: &flakyStore{Store: st}, dir: t.TempDir(), serial: 1000}
	e.db = st.(interface{ DB() *sql.DB }).DB()
	c, err := st.GetCA(ctx, caID)
	if err != nil {
		t.Fatal(err)
	}
	if e.caKey, err = p.Token.Signer(ctx, c.KeyLabel); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time {
		if n := e.now.Load(); n != nil {
			return *n
		}
		return time.Now()
	}
	o := ocsp.Options{Store: e.st, Keys: p.Token, Validity: validity, Clock: clock}
	if mod != nil {
		mod(&o)
	}
	e.auth, err = ocsp.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	h := ocsp.NewResponder(e.auth, nil)
	mux := httpx.NewMux()
	mux.Handle("POST /ocsp", h)
	mux.HandleRaw(http.MethodGet, ocsp.GETPrefix, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.url = srv.URL + "/ocsp"
	return e
}

func (e *env) setNow(t time.Time) { e.now.Store(&t) }

// leaf makes an end-entity certificate signed by the qualified CA's key on
// the token; stored (reserved and inserted) when store is true. It
// returns the certificate and the path of its PEM.
func (e *env) leaf(t *testing.T, stored bool) (*x509.Certificate, string) {
	t.Helper()
	e.serial++
	return e.leafSerial(t, big.NewInt(e.serial), stored)
}

func (e *env) leafSerial(t *testing.T, serial *big.Int, stored bool) (*x509.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "leaf " + serial.String()},
		NotBefore: now, NotAfter: now.Add(48 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, e.p.Issuing, key.Public(), e.caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if stored {
		e.store(t, cert)
	}
	return cert, tsatest.WritePEM(t, e.dir, "leaf-"+serial.Text(16)+".pem", cert)
}

func (e *env) reserve(t *testing.T, serial *big.Int) {
	t.Helper()
	err := e.p.Store.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		return tx.ReserveSerial(ctx, store.SerialReservation{IssuerID: caID, Serial: serial, Purpose: "test", ReservedAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) store(t *testing.T, c *x509.Certificate) {
	t.Helper()
	e.reserve(t, c.SerialNumber)
	err := e.p.Store.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		return tx.InsertCertificate(ctx, store.Certificate{IssuerID: caID, Serial: c.SerialNumber, Subject: c.Subject.String(),
			Profile: "test", NotBefore: c.NotBefore, NotAfter: c.NotAfter, DER: c.Raw, Status: store.CertStatusValid})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// setStatus changes a certificate's status with SQL, as the revocation
// code will, and tells the Authority.
func (e *env) setStatus(t *testing.T, serial *big.Int, status string, at time.Time, reason int) {
	t.Helper()
	var err error
	if status == store.CertStatusValid {
		_, err = e.db.Exec(`UPDATE certificates SET status = 'valid', revoked_at = NULL, revocation_reason = NULL
			WHERE issuer_id = ? AND serial = ?`, caID, serial.Text(16))
	} else {
		_, err = e.db.Exec(`UPDATE certificates SET status = ?, revoked_at = ?, revocation_reason = ? WHERE issuer_id = ? AND serial = ?`,
			status, at.UnixMicro(), reason, caID, serial.Text(16))
	}
	if err != nil {
		t.Fatal(err)
	}
	e.auth.Invalidate(caID, serial)
}

// openssl runs `openssl ocsp` against the responder with the demo issuer
// and root, and returns its combined output.
func (e *env) openssl(t *testing.T, args ...string) string {
	t.Helper()
	ossl := testpki.Tool(t, "openssl")
	all := append([]string{"ocsp", "-issuer", e.p.IssuerPEM, "-CAfile", e.p.RootPEM, "-resp_text"}, args...)
	out, err := exec.Command(ossl, all...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(all, " "), err, out)
	}
	return string(out)
}

func mustContain(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func asn1Unmarshal(b []byte, v any) ([]byte, error) { return asn1.Unmarshal(b, v) }
