package ca_test

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/asn1"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
)

// crlCenter is a demo hierarchy on SoftHSM with its store.
type crlCenter struct {
	st    store.Store
	db    *sql.DB
	pg    bool
	keys  *pkcs11.Token
	certs map[string][]byte // CA id -> DER
}

func newCRLCenter(t testing.TB, open func(t testing.TB) store.Store, pg bool) *crlCenter {
	t.Helper()
	ctx := context.Background()
	st := open(t)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := pkcs11.Open(ctx, testpki.SoftHSM(t).Config(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	made, err := (&ca.Ceremony{Keys: keys, Store: st, PublicURL: "http://127.0.0.1:8080"}).Run(ctx, demoPlan(t))
	if err != nil {
		t.Fatal(err)
	}
	c := &crlCenter{st: st, db: st.(interface{ DB() *sql.DB }).DB(), pg: pg, keys: keys, certs: map[string][]byte{}}
	for _, m := range made {
		switch m.Role {
		case "root", "issuing", "services", "management":
			c.certs[m.ID] = m.DER
		}
	}
	return c
}

// add stores a valid certificate of the issuer, then sets its status with
// SQL as a revocation would (the revocation API is built elsewhere).
func (c *crlCenter) add(t *testing.T, issuer string, serial int64, notAfter time.Time, status string, at time.Time, reason *int) {
	t.Helper()
	n := big.NewInt(serial)
	err := c.st.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		if err := tx.ReserveSerial(ctx, store.SerialReservation{IssuerID: issuer, Serial: n, Purpose: "test", ReservedAt: at}); err != nil {
			return err
		}
		return tx.InsertCertificate(ctx, store.Certificate{IssuerID: issuer, Serial: n, Subject: "CN=t", Profile: "test",
			NotBefore: notAfter.Add(-365 * 24 * time.Hour), NotAfter: notAfter, DER: []byte{0x30}, Status: store.CertStatusValid})
	})
	if err != nil {
		t.Fatal(err)
	}
	if status != store.CertStatusValid {
		c.setStatus(t, issuer, serial, status, &at, reason)
	}
}

func (c *crlCenter) setStatus(t *testing.T, issuer string, serial int64, status string, at *time.Time, reason *int) {
	t.Helper()
	q := "UPDATE certificates SET status = ?, revoked_at = ?, revocation_reason = ? WHERE issuer_id = ? AND serial = ?"
	var atv any
	if at != nil {
		atv = at.UnixMicro()
		if c.pg {
			atv = *at
		}
	}
	if c.pg {
		q = "UPDATE certificates SET status = $1, revoked_at = $2, revocation_reason = $3 WHERE issuer_id = $4 AND serial = $5"
	}
	var r any
	if reason != nil {
		r = *reason
	}
	if _, err := c.db.Exec(q, status, atv, r, issuer, big.NewInt(serial).Text(16)); err != nil {
		t.Fatal(err)
	}
}

func (c *crlCenter) generator() *ca.CRLGenerator {
	return &ca.CRLGenerator{Store: c.st, Keys: c.keys, Validity: 72 * time.Hour, RootValidity: 30 * 24 * time.Hour}
}

func ip(v int) *int { return &v }

var oidExpiredCertsOnCRL = asn1.ObjectIdentifier{2, 5, 29, 60}

func TestCRLEntriesVerifiedByOpenSSL(t *testing.T) {
	opensslBin := testpki.Tool(t, "openssl")
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			c := newCRLCenter(t, open, name == "postgres")
			now := time.Now()
			later, past, hourAgo := now.Add(365*24*time.Hour), now.Add(-24*time.Hour), now.Add(-time.Hour).Truncate(time.Second)
			const q = "qca-demo"
			c.add(t, q, 0x1001, later, store.CertStatusRevoked, hourAgo, ip(1)) // keyCompromise
			c.add(t, q, 0x1002, later, store.CertStatusRevoked, hourAgo, ip(0)) // unspecified: no reasonCode
			c.add(t, q, 0x1003, later, store.CertStatusRevoked, hourAgo, nil)   // none recorded: no reasonCode
			c.add(t, q, 0x1004, later, store.CertStatusOnHold, hourAgo, ip(6))  // certificateHold
			c.add(t, q, 0x1005, later, store.CertStatusValid, hourAgo, nil)
			c.add(t, q, 0x1006, past, store.CertStatusRevoked, hourAgo, ip(4)) // expired: stays (ExpiredCertsOnCRL)
			c.add(t, q, 0x1007, later, store.CertStatusOnHold, hourAgo, ip(6))
			c.setStatus(t, q, 0x1007, store.CertStatusValid, nil, nil)                    // hold lifted: leaves the CRL
			c.add(t, "root-demo", 0x2001, past, store.CertStatusRevoked, hourAgo, ip(5))  // expired under a non-qualified CA: dropped
			c.add(t, "root-demo", 0x2002, later, store.CertStatusRevoked, hourAgo, ip(3)) // affiliationChanged

			g := c.generator()
			dir := t.TempDir()
			rootPEM := writePEM(t, dir, "root.pem", c.certs["root-demo"])
			chainPEM := writePEM(t, dir, "chain.pem", c.certs[q], c.certs["root-demo"])
			for _, tc := range []struct {
				id          string
				caFile      string
				want        map[int64]int // serial -> reason (-1: no reasonCode)
				expiredExt  bool
				validity    time.Duration
				wantReasons []string
			}{
				{q, chainPEM, map[int64]int{0x1001: 1, 0x1002: -1, 0x1003: -1, 0x1004: 6, 0x1006: 4}, true, 72 * time.Hour,
					[]string{"Key Compromise", "Certificate Hold", "Superseded"}},
				{"root-demo", rootPEM, map[int64]int{0x2002: 3}, false, 30 * 24 * time.Hour, []string{"Affiliation Changed"}},
			} {
				res, err := g.Generate(context.Background(), tc.id)
				if err != nil {
					t.Fatalf("%s: %v", tc.id, err)
				}
				if res.Number.Cmp(big.NewInt(2)) != 0 || res.Entries != len(tc.want) {
					t.Fatalf("%s: number %v entries %d, want 2 and %d", tc.id, res.Number, res.Entries, len(tc.want))
				}
				rl, err := x509.ParseRevocationList(res.DER)
				if err != nil {
					t.Fatal(err)
				}
				caCert, _ := x509.ParseCertificate(c.certs[tc.id])
				if err := rl.CheckSignatureFrom(caCert); err != nil {
					t.Fatalf("%s: signature: %v", tc.id, err)
				}
				if string(rl.AuthorityKeyId) != string(caCert.SubjectKeyId) || rl.Number.Cmp(res.Number) != 0 {
					t.Fatalf("%s: AKI %x number %v", tc.id, rl.AuthorityKeyId, rl.Number)
				}
				if d := rl.NextUpdate.Sub(rl.ThisUpdate); d != tc.validity {
					t.Fatalf("%s: nextUpdate - thisUpdate = %v, want %v", tc.id, d, tc.validity)
				}
				if len(rl.RevokedCertificateEntries) != len(tc.want) {
					t.Fatalf("%s: %d entries, want %d", tc.id, len(rl.RevokedCertificateEntries), len(tc.want))
				}
				for _, e := range rl.RevokedCertificateEntries {
					w, ok := tc.want[e.SerialNumber.Int64()]
					if !ok {
						t.Fatalf("%s: serial %x listed", tc.id, e.SerialNumber)
					}
					hasReason := false
					for _, x := range e.Extensions {
						if x.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 21}) {
							hasReason = true
						}
					}
					if w == -1 && hasReason || w != -1 && (!hasReason || e.ReasonCode != w) {
						t.Fatalf("%s: serial %x reason %d (ext %v), want %d", tc.id, e.SerialNumber, e.ReasonCode, hasReason, w)
					}
					if !e.RevocationTime.Equal(hourAgo) {
						t.Fatalf("%s: serial %x revoked at %v, want %v", tc.id, e.SerialNumber, e.RevocationTime, hourAgo)
					}
				}
				hasExpired := false
				for _, x := range rl.Extensions {
					if x.Id.Equal(oidExpiredCertsOnCRL) {
						hasExpired = true
						var since time.Time
						if _, err := asn1.Unmarshal(x.Value, &since); err != nil || !since.Equal(caCert.NotBefore) || x.Critical {
							t.Fatalf("expiredCertsOnCRL %v (%v), want %v", since, err, caCert.NotBefore)
						}
					}
				}
				if hasExpired != tc.expiredExt {
					t.Fatalf("%s: expiredCertsOnCRL present = %v", tc.id, hasExpired)
				}
				if err := ca.LintCRL(policy.NewLinter(), res.DER, tc.id == "root-demo"); err != nil {
					t.Fatalf("%s: lint of the signed CRL: %v", tc.id, err)
				}
				crlFile := filepath.Join(dir, tc.id+".crl")
				if err := os.WriteFile(crlFile, res.DER, 0o600); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(opensslBin, "crl", "-inform", "DER", "-in", crlFile, "-CAfile", tc.caFile, "-verify", "-noout", "-text").CombinedOutput()
				if err != nil || !strings.Contains(string(out), "verify OK") {
					t.Fatalf("openssl crl -verify %s: %v\n%s", tc.id, err, out)
				}
				text := string(out)
				if got := strings.Count(text, "Serial Number:"); got != len(tc.want) {
					t.Fatalf("%s: openssl lists %d serials, want %d\n%s", tc.id, got, len(tc.want), text)
				}
				for s := range tc.want {
					if !strings.Contains(text, fmt.Sprintf("Serial Number: %X", s)) {
						t.Fatalf("%s: openssl does not list %X\n%s", tc.id, s, text)
					}
				}
				for _, r := range tc.wantReasons {
					if !strings.Contains(text, r) {
						t.Fatalf("%s: openssl shows no %q\n%s", tc.id, r, text)
					}
				}
				if strings.Contains(text, "Unspecified") {
					t.Fatalf("%s: an unspecified reason is written\n%s", tc.id, text)
				}
				latest, err := c.st.LatestCRL(context.Background(), tc.id)
				if err != nil || string(latest.DER) != string(res.DER) {
					t.Fatalf("%s: LatestCRL is not the new CRL: %v", tc.id, err)
				}
			}
			// The next CRL has the next number.
			res, err := g.Generate(context.Background(), q)
			if err != nil || res.Number.Cmp(big.NewInt(3)) != 0 {
				t.Fatalf("second CRL: %v, %v", res.Number, err)
			}
		})
	}
}

func TestCRLRefusesBadRows(t *testing.T) {
	c := newCRLCenter(t, backends(t)["sqlite"], false)
	// A revocation time after thisUpdate (a clock ahead elsewhere) is not
	// written as if it were true: the CRL fails and nothing is stored.
	c.add(t, "qca-demo", 0x3001, time.Now().Add(time.Hour*24*30), store.CertStatusRevoked, time.Now().Add(time.Hour), ip(1))
	_, err := c.generator().Generate(context.Background(), "qca-demo")
	if err == nil || !strings.Contains(err.Error(), "after thisUpdate") {
		t.Fatalf("err = %v", err)
	}
	if l, _ := c.st.LatestCRL(context.Background(), "qca-demo"); l.Number.Cmp(big.NewInt(1)) != 0 {
		t.Fatalf("a CRL #%v was stored", l.Number)
	}
	if _, err := c.generator().Generate(context.Background(), "nope"); err == nil {
		t.Fatal("unknown CA accepted")
	}
	g := c.generator()
	g.Validity = 8 * 24 * time.Hour
	if _, err := g.Generate(context.Background(), "root-demo"); err == nil {
		t.Fatal("8 days validity accepted")
	}
}
