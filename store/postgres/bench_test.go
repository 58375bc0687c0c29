package postgres_test

import (
	"context"
	"crypto/rand"
	"math/big"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/postgres"
)

// BenchmarkLedgerInsert is the TSA ledger's write: one token row per
// committed transaction, from 16 goroutines.
func BenchmarkLedgerInsert(b *testing.B) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, testpki.PostgresDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	serial := big.NewInt(7)
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.InsertCA(ctx, store.CA{ID: "ca", Kind: store.CAKindRoot, KeyLabel: "k", CertDER: []byte{1}, Status: store.CAStatusActive, CreatedAt: now}); err != nil {
			return err
		}
		if err := tx.ReserveSerial(ctx, store.SerialReservation{IssuerID: "ca", Serial: serial, Purpose: "tsa", ReservedAt: now}); err != nil {
			return err
		}
		if err := tx.InsertCertificate(ctx, store.Certificate{IssuerID: "ca", Serial: serial, Subject: "CN=tsa", Profile: "tsa",
			NotBefore: now, NotAfter: now.Add(time.Hour), DER: []byte{1}, Status: store.CertStatusValid}); err != nil {
			return err
		}
		return tx.InsertSigner(ctx, store.Signer{Role: store.SignerRoleTSA, CAID: "ca", KeyLabel: "tsa", Serial: serial, CertDER: []byte{1}, NotAfter: now.Add(time.Hour)})
	})
	if err != nil {
		b.Fatal(err)
	}
	tokenDER := make([]byte, 1200)
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 150))
			n.Add(n, big.NewInt(1))
			tk := store.TSAToken{Serial: n, GenTime: now, HashAlgorithm: "2.16.840.1.101.3.4.2.1", MessageImprint: make([]byte, 32),
				Policy: "1.2.3", Requester: "x", SignerCAID: "ca", SignerSerial: serial, TokenDER: tokenDER, IssuedAt: now}
			if err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.InsertTSAToken(ctx, tk) }); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
