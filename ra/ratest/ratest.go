// Package ratest builds a registration center for tests: the demo key
// ceremony on a SoftHSM2 token, a store on SQLite or PostgreSQL, issuers
// of every CA, the revoker, a ra.Service, and officers with client
// certificates. Production code never imports it.
package ratest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/ra"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/postgres"
	"github.com/muhr-pki/muhr/store/sqlite"
)

// Backends are the databases the tests run on.
var Backends = []string{"sqlite", "postgres"}

// Center is a ceremony-made hierarchy with registration on top.
type Center struct {
	Store    store.Store
	Keys     *pkcs11.Token
	Service  *ra.Service
	Issuers  map[string]*ca.Issuer
	Revoker  *ca.Revoker
	Roots    *x509.CertPool // the root, for verifying issued certificates
	Issuing  *x509.CertPool // intermediates
	Mgmt     *x509.Certificate
	MgmtPool *x509.CertPool
	Opts     ra.Options
}

func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Settings are the profile settings of the test center.
func Settings() ca.ProfileSettings {
	oid, _ := x509.ParseOID("1.3.6.1.4.1.59999.1.1")
	return ca.ProfileSettings{PublicURL: "http://127.0.0.1:8080", CenterPolicy: oid, PDS: []policy.PDS{
		{URL: "https://muhr.example.tj/pds/en", Language: "en"},
		{URL: "https://muhr.example.tj/pds/tg", Language: "tg"}}}
}

// OpenStore opens a fresh, migrated store on backend.
func OpenStore(t testing.TB, backend string) store.Store {
	t.Helper()
	ctx := context.Background()
	var st store.Store
	var err error
	switch backend {
	case "sqlite":
		st, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "muhr.db"))
	case "postgres":
		st, err = postgres.Open(ctx, testpki.PostgresDSN(t))
	default:
		t.Fatalf("ratest: backend %q", backend)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// New runs the demo ceremony on backend and builds the service; mod may
// change its options.
func New(t testing.TB, backend string, mod func(*ra.Options)) *Center {
	t.Helper()
	st := OpenStore(t, backend)
	ctx := context.Background()
	tok := testpki.SoftHSM(t)
	keys, err := pkcs11.Open(ctx, tok.Config(4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	var plan ca.Plan
	if err := config.LoadStrict(filepath.Join(root(), "configs", "ceremony-demo.yaml"), &plan); err != nil {
		t.Fatal(err)
	}
	if _, err := (&ca.Ceremony{Keys: keys, Store: st, PublicURL: "http://127.0.0.1:8080"}).Run(ctx, &plan); err != nil {
		t.Fatal(err)
	}
	c := &Center{Store: st, Keys: keys, Issuers: map[string]*ca.Issuer{}, Roots: x509.NewCertPool(), Issuing: x509.NewCertPool(), MgmtPool: x509.NewCertPool()}
	cas, err := st.ListCAs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	issuers := map[string]ra.Issuer{}
	for _, row := range cas {
		cert, err := x509.ParseCertificate(row.CertDER)
		if err != nil {
			t.Fatal(err)
		}
		switch row.Kind {
		case store.CAKindRoot:
			c.Roots.AddCert(cert)
			continue
		case store.CAKindManagement:
			c.Mgmt = cert
			c.MgmtPool.AddCert(cert)
		default:
			c.Issuing.AddCert(cert)
		}
		iss, err := ca.NewIssuer(ctx, ca.IssuerOptions{CAID: row.ID, Store: st, Keys: keys, Settings: Settings()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { iss.Close() })
		c.Issuers[row.ID], issuers[row.ID] = iss, iss
	}
	if c.Revoker, err = ca.NewRevoker(ca.RevokerOptions{Store: st}); err != nil {
		t.Fatal(err)
	}
	// Cheap Argon2id for tests; the format and the check are the same.
	c.Opts = ra.Options{Store: st, Issuers: issuers, Revoker: c.Revoker, Argon: ra.ArgonParams{MemoryKiB: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}}
	if mod != nil {
		mod(&c.Opts)
	}
	if c.Service, err = ra.New(c.Opts); err != nil {
		t.Fatal(err)
	}
	return c
}

// Key is a fresh ECDSA P-256 key.
func Key(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// CSR is a PEM CSR for key.
func CSR(t testing.TB, key crypto.Signer) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// Officer creates an officer with roles and returns its row and its TLS
// client certificate.
func (c *Center) Officer(t testing.TB, name string, roles ...string) (store.Officer, tls.Certificate) {
	t.Helper()
	key := Key(t)
	v, err := c.Service.CreateOfficer(context.Background(), "test-bootstrap", "test-bootstrap",
		ra.OfficerInput{Name: name, Roles: roles, CSR: CSR(t, key)})
	if err != nil {
		t.Fatalf("create officer %s: %v", name, err)
	}
	o, err := c.Store.GetOfficer(context.Background(), v.ID)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(v.Certificate))
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return o, tls.Certificate{Certificate: [][]byte{blk.Bytes}, PrivateKey: key, Leaf: leaf}
}

// Person is a registration input of a natural person with a Cyrillic name.
func Person(number string) ra.SubscriberInput {
	return ra.SubscriberInput{Kind: "person", Person: &ra.PersonInput{Surname: "Раҳимов", GivenName: "Фирӯз", Patronymic: "Ғафурович",
		PersonalNumber: number, Country: "TJ"}, Passphrase: "сирри-ман-123"}
}
