package storetest

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"sync"
	"testing"

	"github.com/muhr-pki/muhr/store"
)

// tsaSigner stores a CA, a TSA unit certificate and its signer row.
func tsaSigner(t *testing.T, s store.Store) store.Signer {
	t.Helper()
	addCA(t, s, "ca-tsa")
	c := issue(t, s, "ca-tsa", randSerial(t))
	sg := store.Signer{Role: store.SignerRoleTSA, CAID: "ca-tsa", KeyLabel: "tsa-unit", Serial: c.Serial,
		CertDER: c.DER, NotAfter: base.AddDate(5, 0, 0)}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertSigner(ctx, sg) })
	return sg
}

func tsaToken(t *testing.T, sg store.Signer, serial *big.Int) store.TSAToken {
	return store.TSAToken{Serial: serial, GenTime: base, HashAlgorithm: "2.16.840.1.101.3.4.2.1",
		MessageImprint: randBytes(t, 32), Policy: "0.4.0.2023.1.1", Requester: "192.0.2.7:51234",
		SignerCAID: sg.CAID, SignerSerial: sg.Serial, TokenDER: randBytes(t, 700), IssuedAt: base.Add(1500)}
}

func insertToken(s store.Store, tk store.TSAToken) error {
	return s.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error { return tx.InsertTSAToken(ctx, tk) })
}

func testTSAToken(t *testing.T, s store.Store) {
	sg := tsaSigner(t, s)
	want := tsaToken(t, sg, randSerial(t))
	_, err := s.GetTSAToken(ctx(t), want.Serial)
	wantKind(t, "GetTSAToken before insert", err, store.ErrNotFound)
	if err := insertToken(s, want); err != nil {
		t.Fatalf("InsertTSAToken: %v", err)
	}
	got, err := s.GetTSAToken(ctx(t), want.Serial)
	if err != nil {
		t.Fatalf("GetTSAToken: %v", err)
	}
	if got.Serial.Cmp(want.Serial) != 0 || got.HashAlgorithm != want.HashAlgorithm ||
		!bytes.Equal(got.MessageImprint, want.MessageImprint) || got.Policy != want.Policy ||
		got.Requester != want.Requester || got.SignerCAID != want.SignerCAID ||
		got.SignerSerial.Cmp(want.SignerSerial) != 0 || !bytes.Equal(got.TokenDER, want.TokenDER) {
		t.Errorf("GetTSAToken = %+v, want %+v", got, want)
	}
	sameTime(t, "GenTime", got.GenTime, want.GenTime)
	sameTime(t, "IssuedAt", got.IssuedAt, want.IssuedAt)

	// The serial is unique on its own, whatever else differs.
	again := tsaToken(t, sg, new(big.Int).Set(want.Serial))
	wantKind(t, "reused TSA serial", insertToken(s, again), store.ErrDuplicateSerial)

	// A 160-bit serial (what a random 20-octet draw gives) round-trips.
	wide := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 160), big.NewInt(1))
	if err := insertToken(s, tsaToken(t, sg, wide)); err != nil {
		t.Fatalf("160-bit serial: %v", err)
	}
	if got, err := s.GetTSAToken(ctx(t), wide); err != nil || got.Serial.Cmp(wide) != 0 {
		t.Fatalf("160-bit serial read back: %v, %v", got.Serial, err)
	}

	// The ledger names a signer the center knows.
	orphan := tsaToken(t, sg, randSerial(t))
	orphan.SignerSerial = randSerial(t)
	wantKind(t, "token of an unknown signer", insertToken(s, orphan), store.ErrNotFound)
	if _, err := s.GetTSAToken(ctx(t), orphan.Serial); err == nil {
		t.Error("refused token was stored")
	}
	t.Run("Batch", func(t *testing.T) { testTSATokenBatch(t, s, sg, want.Serial) })
}

func insertTokens(s store.Store, tks []store.TSAToken) error {
	return s.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error { return tx.InsertTSATokens(ctx, tks) })
}

// InsertTSATokens writes every row (more than one INSERT's worth too), and
// a batch with one bad row fails as that row would and stores none.
func testTSATokenBatch(t *testing.T, s store.Store, sg store.Signer, used *big.Int) {
	if err := insertTokens(s, nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	for _, n := range []int{1, 3, 300} {
		batch := make([]store.TSAToken, n)
		for i := range batch {
			batch[i] = tsaToken(t, sg, randSerial(t))
			batch[i].Requester = fmt.Sprintf("192.0.2.%d:%d", i%250, 1000+i)
		}
		if err := insertTokens(s, batch); err != nil {
			t.Fatalf("batch of %d: %v", n, err)
		}
		for _, want := range batch {
			got, err := s.GetTSAToken(ctx(t), want.Serial)
			if err != nil {
				t.Fatalf("batch of %d: row %x: %v", n, want.Serial, err)
			}
			if got.Requester != want.Requester || !bytes.Equal(got.TokenDER, want.TokenDER) ||
				!bytes.Equal(got.MessageImprint, want.MessageImprint) || got.SignerSerial.Cmp(want.SignerSerial) != 0 {
				t.Fatalf("batch of %d: row %x = %+v, want %+v", n, want.Serial, got, want)
			}
			sameTime(t, "GenTime", got.GenTime, want.GenTime)
			sameTime(t, "IssuedAt", got.IssuedAt, want.IssuedAt)
		}
	}

	for _, c := range []struct {
		name string
		bad  func(tk *store.TSAToken)
		kind error
	}{
		{"reused serial", func(tk *store.TSAToken) { tk.Serial = new(big.Int).Set(used) }, store.ErrDuplicateSerial},
		{"unknown signer", func(tk *store.TSAToken) { tk.SignerSerial = randSerial(t) }, store.ErrNotFound},
	} {
		batch := []store.TSAToken{tsaToken(t, sg, randSerial(t)), tsaToken(t, sg, randSerial(t)), tsaToken(t, sg, randSerial(t))}
		c.bad(&batch[1])
		wantKind(t, "batch with a "+c.name, insertTokens(s, batch), c.kind)
		for _, tk := range []store.TSAToken{batch[0], batch[2]} {
			if _, err := s.GetTSAToken(ctx(t), tk.Serial); err == nil {
				t.Errorf("batch with a %s: its good row %x was stored", c.name, tk.Serial)
			}
		}
	}
	// Two rows of one batch with one serial: refused too.
	dup := tsaToken(t, sg, randSerial(t))
	wantKind(t, "batch repeating a serial", insertTokens(s, []store.TSAToken{dup, tsaToken(t, sg, dup.Serial)}),
		store.ErrDuplicateSerial)
}

// Many writers racing on one serial: exactly one row wins.
func testTSAConcurrentSerial(t *testing.T, s store.Store) {
	sg := tsaSigner(t, s)
	serial := randSerial(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		tk := tsaToken(t, sg, serial)
		wg.Go(func() { errs[i] = insertToken(s, tk) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		default:
			wantKind(t, "losing insert", err, store.ErrDuplicateSerial)
		}
	}
	if won != 1 {
		t.Fatalf("%d inserts of one serial succeeded, want 1", won)
	}
}
