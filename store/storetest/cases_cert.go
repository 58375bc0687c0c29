package storetest

import (
	"bytes"
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/store"
)

func sameCert(t *testing.T, got, want store.Certificate) {
	t.Helper()
	if got.IssuerID != want.IssuerID || got.Serial.Cmp(want.Serial) != 0 || got.Subject != want.Subject ||
		got.Profile != want.Profile || !bytes.Equal(got.DER, want.DER) || got.Status != want.Status {
		t.Errorf("certificate = %+v, want %+v", got, want)
	}
	sameTime(t, "NotBefore", got.NotBefore, want.NotBefore)
	sameTime(t, "NotAfter", got.NotAfter, want.NotAfter)
	switch {
	case (got.RevokedAt == nil) != (want.RevokedAt == nil):
		t.Errorf("RevokedAt = %v, want %v", got.RevokedAt, want.RevokedAt)
	case want.RevokedAt != nil:
		sameTime(t, "RevokedAt", *got.RevokedAt, *want.RevokedAt)
	}
	switch {
	case (got.RevocationReason == nil) != (want.RevocationReason == nil):
		t.Errorf("RevocationReason = %v, want %v", got.RevocationReason, want.RevocationReason)
	case want.RevocationReason != nil && *got.RevocationReason != *want.RevocationReason:
		t.Errorf("RevocationReason = %d, want %d", *got.RevocationReason, *want.RevocationReason)
	}
}

func testCertificate(t *testing.T, s store.Store) {
	addCA(t, s, "ca-a")
	valid := issue(t, s, "ca-a", randSerial(t))

	revoked := certificate(t, "ca-a", randSerial(t))
	at, reason := base.Add(36*time.Hour+7*time.Nanosecond), 1 // keyCompromise
	revoked.Status, revoked.RevokedAt, revoked.RevocationReason = store.CertStatusRevoked, &at, &reason
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.ReserveSerial(ctx, reservation("ca-a", revoked.Serial)); err != nil {
			return err
		}
		return tx.InsertCertificate(ctx, revoked)
	})

	for _, want := range []store.Certificate{valid, revoked} {
		got, err := s.GetCertificate(ctx(t), "ca-a", want.Serial)
		if err != nil {
			t.Fatalf("GetCertificate: %v", err)
		}
		sameCert(t, got, want)
	}

	_, err := s.GetCertificate(ctx(t), "ca-a", randSerial(t))
	wantKind(t, "unknown serial", err, store.ErrNotFound)
	_, err = s.GetCertificate(ctx(t), "no-such-ca", valid.Serial)
	wantKind(t, "unknown issuer", err, store.ErrNotFound)

	err = s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		return tx.InsertCertificate(ctx, certificate(t, "ca-a", valid.Serial))
	})
	wantKind(t, "second certificate with one serial", err, store.ErrDuplicateSerial)

	// The schema refuses a valid certificate that carries a revocation time.
	odd := certificate(t, "ca-a", randSerial(t))
	odd.RevokedAt = &at
	err = s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		if err := tx.ReserveSerial(ctx, reservation("ca-a", odd.Serial)); err != nil {
			return err
		}
		return tx.InsertCertificate(ctx, odd)
	})
	if err == nil {
		t.Error("a valid certificate with a revocation time was accepted")
	}
}

func testCRL(t *testing.T, s store.Store) {
	addCA(t, s, "ca-a")
	addCA(t, s, "ca-b")
	crl := func(issuer string, n *big.Int) store.CRL {
		tu := base.Add(time.Duration(n.Int64()) * time.Hour)
		return store.CRL{IssuerID: issuer, Number: n, ThisUpdate: tu, NextUpdate: tu.Add(7 * 24 * time.Hour), DER: randBytes(t, 100)}
	}
	insert := func(c store.CRL) error {
		return s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error { return tx.InsertCRL(ctx, c) })
	}
	_, err := s.LatestCRL(ctx(t), "ca-a")
	wantKind(t, "LatestCRL before any", err, store.ErrNotFound)

	// 16 > 9 > 2 numerically; a text comparison of unpadded numbers would
	// disagree.
	var latest store.CRL
	for _, n := range []int64{2, 16, 9} {
		c := crl("ca-a", big.NewInt(n))
		if err := insert(c); err != nil {
			t.Fatalf("InsertCRL #%d: %v", n, err)
		}
		if n == 16 {
			latest = c
		}
	}
	if err := insert(crl("ca-b", big.NewInt(100))); err != nil {
		t.Fatalf("InsertCRL of ca-b: %v", err)
	}
	got, err := s.LatestCRL(ctx(t), "ca-a")
	if err != nil {
		t.Fatalf("LatestCRL: %v", err)
	}
	if got.IssuerID != "ca-a" || got.Number.Cmp(latest.Number) != 0 || !bytes.Equal(got.DER, latest.DER) {
		t.Errorf("LatestCRL = #%v of %s, want #%v of ca-a", got.Number, got.IssuerID, latest.Number)
	}
	sameTime(t, "ThisUpdate", got.ThisUpdate, latest.ThisUpdate)
	sameTime(t, "NextUpdate", got.NextUpdate, latest.NextUpdate)

	wantKind(t, "reused CRL number", insert(crl("ca-a", big.NewInt(9))), store.ErrExists)
	wantKind(t, "CRL of unknown CA", insert(crl("no-such-ca", big.NewInt(1))), store.ErrNotFound)

	// cRLNumber may be up to 20 octets.
	huge := crl("ca-a", new(big.Int).Lsh(big.NewInt(1), 150))
	huge.ThisUpdate, huge.NextUpdate = base, base.Add(time.Hour)
	if err := insert(huge); err != nil {
		t.Fatalf("InsertCRL with a 151-bit number: %v", err)
	}
	if got, err := s.LatestCRL(ctx(t), "ca-a"); err != nil || got.Number.Cmp(huge.Number) != 0 {
		t.Errorf("LatestCRL = #%v, %v; want #%v", got.Number, err, huge.Number)
	}
}

func testSigner(t *testing.T, s store.Store) {
	addCA(t, s, "ca-a")
	_, err := s.LatestSigner(ctx(t), store.SignerRoleOCSP, "ca-a")
	wantKind(t, "LatestSigner before any", err, store.ErrNotFound)

	older, newer := issue(t, s, "ca-a", randSerial(t)), issue(t, s, "ca-a", randSerial(t))
	signer := func(c store.Certificate, notAfter time.Time) store.Signer {
		return store.Signer{Role: store.SignerRoleOCSP, CAID: "ca-a", KeyLabel: "ocsp-" + c.Serial.Text(16)[:8],
			Serial: c.Serial, CertDER: c.DER, NotAfter: notAfter}
	}
	want := signer(newer, base.AddDate(0, 2, 0))
	for _, sg := range []store.Signer{signer(older, base.AddDate(0, 1, 0)), want} {
		inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertSigner(ctx, sg) })
	}
	got, err := s.LatestSigner(ctx(t), store.SignerRoleOCSP, "ca-a")
	if err != nil {
		t.Fatalf("LatestSigner: %v", err)
	}
	if got.Role != want.Role || got.CAID != want.CAID || got.KeyLabel != want.KeyLabel ||
		got.Serial.Cmp(want.Serial) != 0 || !bytes.Equal(got.CertDER, want.CertDER) {
		t.Errorf("LatestSigner = %+v, want %+v", got, want)
	}
	sameTime(t, "signer NotAfter", got.NotAfter, want.NotAfter)
	_, err = s.LatestSigner(ctx(t), store.SignerRoleTSA, "ca-a")
	wantKind(t, "LatestSigner of another role", err, store.ErrNotFound)

	insert := func(sg store.Signer) error {
		return s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error { return tx.InsertSigner(ctx, sg) })
	}
	wantKind(t, "second signer row for one certificate", insert(want), store.ErrExists)
	wantKind(t, "signer without a stored certificate", insert(signer(certificate(t, "ca-a", randSerial(t)), base)), store.ErrNotFound)
}
