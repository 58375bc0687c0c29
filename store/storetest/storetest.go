// Package storetest is the contract the store meets on every database.
// store/sqlite and store/postgres run it from their tests with a Backend:
//
//	func TestMain(m *testing.M) { storetest.HelperMain(backend); os.Exit(m.Run()) }
//	func TestContract(t *testing.T) { storetest.Run(t, backend) }
//
// A new query gets its case here, so it is tested on both databases.
package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/store"
)

// runContract runs the cases that need only the store. Each subtest gets its
// own database.
func runContract(t *testing.T, open func(t *testing.T) store.Store) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"MigrateTwiceIsNoOp", testMigrateTwice},
		{"CA", testCA},
		{"ReserveSerial", testReserveSerial},
		{"ConcurrentReserveOneWins", testConcurrentReserve},
		{"Serial159Bits", testSerial159Bits},
		{"CertificateNeedsReservation", testCertificateNeedsReservation},
		{"Certificate", testCertificate},
		{"CRL", testCRL},
		{"Signer", testSigner},
		{"IssuanceIntents", testIntents},
		{"TSAToken", testTSAToken},
		{"TSAConcurrentSerial", testTSAConcurrentSerial},
		{"Revoke", testRevoke},
		{"SuspendResume", testSuspendResume},
		{"RevokeHold", testRevokeHold},
		{"StatusFeed", testFeed},
		{"ConcurrentStatusOneWins", testConcurrentStatus},
		{"CertificateWalk", testCertificateWalk},
		{"TSAWalk", testTSAWalk},
		{"ReadSnapshot", testReadSnapshot},
		{"RollbackOnError", testRollbackOnError},
		{"RollbackOnPanic", testRollbackOnPanic},
		{"TimesRoundTrip", testTimesRoundTrip},
		{"AuditAppendRolledBack", testAuditRolledBack},
		{"AuditRecordsPaging", testAuditPaging},
		{"AuditConcurrentAppends", testAuditConcurrent},
		{"RevokedAfter", testRevokedAfter},
		{"RevocationState", testRevocationState},
		{"NextCRLNumber", testNextCRLNumber},
		{"Lease", testLease},
		{"LeaseRace", testLeaseRace},
		{"RAOfficers", testOfficers},
		{"RASubscribersAndSearch", testSubscribers},
		{"RARequests", testRequests},
		{"RAConcurrentClaimsOneWins", testConcurrentClaims},
		{"RAPassphraseAttempts", testPassphraseAttempts},
		{"RAListenerCert", testListenerCert},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.fn(t, openMigrated(t, open))
		})
	}
}

func openMigrated(t *testing.T, open func(t *testing.T) store.Store) store.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := s.Migrate(ctx(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func ctx(t *testing.T) context.Context { return t.Context() }

// base is a time with nanoseconds in a non-UTC zone, so every test checks
// truncation to microseconds and conversion to UTC.
var base = time.Date(2026, 3, 21, 9, 30, 15, 123456789, time.FixedZone("TJT", 5*3600))

// micro is what the stores give back for t.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(micro(want)) || got.Location() != time.UTC {
		t.Errorf("%s = %v (%v), want %v in UTC", what, got, got.Location(), micro(want))
	}
}

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// randSerial draws a serial the way the issuer does: positive, < 2^159.
func randSerial(t *testing.T) *big.Int {
	t.Helper()
	limit := new(big.Int).Lsh(big.NewInt(1), 159)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			t.Fatal(err)
		}
		if n.Sign() > 0 {
			return n
		}
	}
}

func rootCA(t *testing.T, id string) store.CA {
	return store.CA{ID: id, Kind: store.CAKindRoot, KeyLabel: id + "-key", CertDER: randBytes(t, 64),
		Status: store.CAStatusActive, CreatedAt: base}
}

func inTx(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	if err := s.InTx(ctx(t), fn); err != nil {
		t.Fatalf("InTx: %v", err)
	}
}

// addCA stores a root CA.
func addCA(t *testing.T, s store.Store, id string) store.CA {
	t.Helper()
	ca := rootCA(t, id)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertCA(ctx, ca) })
	return ca
}

func reservation(issuer string, serial *big.Int) store.SerialReservation {
	return store.SerialReservation{IssuerID: issuer, Serial: serial, Purpose: "test", ReservedAt: base}
}

func certificate(t *testing.T, issuer string, serial *big.Int) store.Certificate {
	return store.Certificate{IssuerID: issuer, Serial: serial, Subject: "CN=Раҳимов Ҷамшед,C=TJ",
		Profile: "qualified-natural", NotBefore: base, NotAfter: base.AddDate(2, 0, 0), DER: randBytes(t, 300),
		Status: store.CertStatusValid}
}

// issue reserves serial and stores a certificate with it.
func issue(t *testing.T, s store.Store, issuer string, serial *big.Int) store.Certificate {
	t.Helper()
	c := certificate(t, issuer, serial)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.ReserveSerial(ctx, reservation(issuer, serial)); err != nil {
			return err
		}
		return tx.InsertCertificate(ctx, c)
	})
	return c
}

func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: err = %v, want %v", what, err, kind)
	}
}
