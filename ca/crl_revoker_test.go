package ca_test

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/store"
)

var (
	oidReasonCode     = asn1.ObjectIdentifier{2, 5, 29, 21}
	oidInvalidityDate = asn1.ObjectIdentifier{2, 5, 29, 24}
)

// Status changes made through the Revoker, as officers make them, reach
// the next full CRL: a compromise time becomes the entry's invalidityDate
// (shown by openssl), unspecified is written by omitting reasonCode, a hold
// is certificateHold, and a lifted hold is simply absent from the next CRL
// (no removeFromCRL entry: there are no delta CRLs).
func TestCRLFollowsRevokerChanges(t *testing.T) {
	ossl := testpki.Tool(t, "openssl")
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			c := newCRLCenter(t, open, name == "postgres")
			ctx := context.Background()
			const q = "qca-demo"
			later := time.Now().Add(365 * 24 * time.Hour)
			for _, s := range []int64{0x3001, 0x3002, 0x3003} {
				c.add(t, q, s, later, store.CertStatusValid, time.Now(), nil)
			}
			rv, err := ca.NewRevoker(ca.RevokerOptions{Store: c.st})
			if err != nil {
				t.Fatal(err)
			}
			compromised := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
			if _, err := rv.Revoke(ctx, q, big.NewInt(0x3001), ca.ReasonKeyCompromise, &compromised, "officer"); err != nil {
				t.Fatal(err)
			}
			if _, err := rv.Revoke(ctx, q, big.NewInt(0x3002), ca.ReasonUnspecified, nil, "officer"); err != nil {
				t.Fatal(err)
			}
			if _, err := rv.Suspend(ctx, q, big.NewInt(0x3003), "duty-officer"); err != nil {
				t.Fatal(err)
			}
			g := c.generator()
			entries := func() (map[int64]x509.RevocationListEntry, []byte) {
				t.Helper()
				res, err := g.Generate(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				rl, err := x509.ParseRevocationList(res.DER)
				if err != nil {
					t.Fatal(err)
				}
				out := map[int64]x509.RevocationListEntry{}
				for _, e := range rl.RevokedCertificateEntries {
					out[e.SerialNumber.Int64()] = e
				}
				return out, res.DER
			}
			has := func(e x509.RevocationListEntry, oid asn1.ObjectIdentifier) bool {
				for _, x := range e.Extensions {
					if x.Id.Equal(oid) {
						return true
					}
				}
				return false
			}
			first, der := entries()
			kc, un, hold := first[0x3001], first[0x3002], first[0x3003]
			if len(first) != 3 || kc.ReasonCode != 1 || !has(kc, oidInvalidityDate) || has(un, oidReasonCode) || has(un, oidInvalidityDate) ||
				hold.ReasonCode != 6 {
				t.Fatalf("first CRL entries %+v", first)
			}
			for _, x := range kc.Extensions {
				if x.Id.Equal(oidInvalidityDate) {
					var at time.Time
					if _, err := asn1.UnmarshalWithParams(x.Value, &at, "generalized"); err != nil || !at.Equal(compromised) {
						t.Fatalf("invalidityDate %v (%v), want %v", at, err, compromised)
					}
				}
			}
			dir := t.TempDir()
			crlFile := filepath.Join(dir, "q.crl")
			os.WriteFile(crlFile, der, 0o600)
			out, err := exec.Command(ossl, "crl", "-inform", "DER", "-in", crlFile, "-noout", "-text").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Invalidity Date") || !strings.Contains(string(out), compromised.Format("Jan  2 15:04:05 2006 GMT")) ||
				!strings.Contains(string(out), "Certificate Hold") || strings.Contains(string(out), "Unspecified") {
				t.Fatalf("openssl crl: %v\n%s", err, out)
			}
			if _, err := rv.Resume(ctx, q, big.NewInt(0x3003), "officer"); err != nil {
				t.Fatal(err)
			}
			next, _ := entries()
			if _, ok := next[0x3003]; ok || len(next) != 2 {
				t.Fatalf("after the hold was lifted: %+v", next)
			}
			for s, e := range next {
				if e.ReasonCode == 8 {
					t.Fatalf("%x: removeFromCRL in a full CRL", s)
				}
			}
		})
	}
}
