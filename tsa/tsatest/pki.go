// Package tsatest holds what the TSA's tests share: a real hierarchy made by
// the key ceremony on a SoftHSM2 token, and a fake NTP server on loopback.
// Production code never imports it.
package tsatest

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/postgres"
	"github.com/muhr-pki/muhr/store/sqlite"
)

// ExtraPolicy is a second policy the test TSA unit certificate lists.
const ExtraPolicy = "1.3.6.1.4.1.59999.1.9"

// PKI is the demo hierarchy of configs/ceremony-demo.yaml on a fresh token.
type PKI struct {
	Store     store.Store
	Token     *pkcs11.Token
	SoftHSM   testpki.SoftHSMToken
	TSACA     string // the CA that issued the TSA unit (qca-demo)
	Root      *x509.Certificate
	Issuing   *x509.Certificate
	TSA       *x509.Certificate
	Dir       string // holds root.pem, chain.pem (TSA + issuing) and the token PIN
	RootPEM   string
	ChainPEM  string
	IssuerPEM string
	Made      []ca.Made
}

// ModuleRoot finds the directory holding go.mod above the working directory.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("tsatest: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// SQLite opens a migrated SQLite store in a temp dir.
func SQLite(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "muhr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// Postgres opens a migrated store on a fresh database of the test cluster
// (testpki.PostgresDSN: a failure under CI=true when there is none).
func Postgres(t testing.TB) (store.Store, string) {
	t.Helper()
	dsn := testpki.PostgresDSN(t)
	st, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st, dsn
}

// NewPKI runs the demo ceremony on a new SoftHSM2 token into st (a migrated
// store; nil makes a SQLite one).
func NewPKI(t testing.TB, st store.Store) *PKI {
	t.Helper()
	return NewPKIAt(t, st, "http://127.0.0.1:8080")
}

// NewPKIAt is NewPKI with the certificates' AIA and CDP URLs under
// publicURL, for tests that serve them.
func NewPKIAt(t testing.TB, st store.Store, publicURL string) *PKI {
	t.Helper()
	ctx := context.Background()
	if st == nil {
		st = SQLite(t)
	}
	var plan ca.Plan
	if err := config.LoadStrict(filepath.Join(ModuleRoot(t), "configs", "ceremony-demo.yaml"), &plan); err != nil {
		t.Fatal(err)
	}
	// A second accepted policy, so tests can tell a requested policy from
	// the default one.
	plan.TSA.Policies = append(plan.TSA.Policies, ExtraPolicy)
	soft := testpki.SoftHSM(t)
	tok, err := pkcs11.Open(ctx, soft.Config(4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Close() })
	made, err := (&ca.Ceremony{Keys: tok, Store: st, PublicURL: publicURL}).Run(ctx, &plan)
	if err != nil {
		t.Fatalf("ceremony: %v", err)
	}
	p := &PKI{Store: st, Token: tok, SoftHSM: soft, TSACA: plan.TSA.Issuer, Dir: t.TempDir(), Made: made}
	for _, m := range made {
		switch {
		case m.Role == "root":
			p.Root = m.Cert
		case m.Role == "issuing" && m.ID == plan.TSA.Issuer:
			p.Issuing = m.Cert
		case m.Role == "tsa":
			p.TSA = m.Cert
		}
	}
	if p.Root == nil || p.Issuing == nil || p.TSA == nil {
		t.Fatal("tsatest: ceremony made no root, issuing CA or TSA unit")
	}
	p.RootPEM = WritePEM(t, p.Dir, "root.pem", p.Root)
	p.ChainPEM = WritePEM(t, p.Dir, "chain.pem", p.TSA, p.Issuing)
	p.IssuerPEM = WritePEM(t, p.Dir, "issuing.pem", p.Issuing)
	return p
}

// WritePEM writes certificates as PEM and returns the path.
func WritePEM(t testing.TB, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// OpenPostgres opens a second, independent store on the database.
func OpenPostgres(t testing.TB, dsn string) store.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
