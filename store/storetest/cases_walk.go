package storetest

import (
	"bytes"
	"context"
	"math/big"
	"testing"

	"github.com/muhr-pki/muhr/store"
)

// The key-order walks and batched look-ups the audit's cross-check uses.

func testCertificateWalk(t *testing.T, s store.Store) {
	// Three issuers (stored out of order) and serials of different
	// lengths, so the walk's order is the key's text order across issuers
	// and within one (10 < 2 < f).
	want := map[string]store.Certificate{}
	for _, id := range []string{"cb", "ca", "b"} {
		addCA(t, s, id)
		for _, n := range []*big.Int{big.NewInt(0xf), big.NewInt(0x10), big.NewInt(0x2), randSerial(t), randSerial(t)} {
			c := issue(t, s, id, n)
			want[id+"/"+n.Text(16)] = c
		}
	}
	for _, page := range []int{1, 4, 100} {
		var got []store.Certificate
		id, serial := "", (*big.Int)(nil)
		for {
			p, err := s.CertificatesAfter(ctx(t), id, serial, page)
			if err != nil {
				t.Fatalf("CertificatesAfter(%q, %v, %d): %v", id, serial, page, err)
			}
			if len(p) > page {
				t.Fatalf("page of %d rows for limit %d", len(p), page)
			}
			got = append(got, p...)
			if len(p) < page {
				break
			}
			id, serial = p[len(p)-1].IssuerID, p[len(p)-1].Serial
		}
		if len(got) != len(want) {
			t.Fatalf("page %d: walked %d certificates, want %d", page, len(got), len(want))
		}
		for i, c := range got {
			w, ok := want[c.IssuerID+"/"+c.Serial.Text(16)]
			if !ok {
				t.Fatalf("walk gave unknown certificate %s/%x", c.IssuerID, c.Serial)
			}
			sameCert(t, c, w)
			if i > 0 {
				prev := got[i-1]
				if prev.IssuerID > c.IssuerID || prev.IssuerID == c.IssuerID && prev.Serial.Text(16) >= c.Serial.Text(16) {
					t.Fatalf("page %d: %s/%x walked before %s/%x", page, prev.IssuerID, prev.Serial, c.IssuerID, c.Serial)
				}
			}
		}
	}
	if _, err := s.CertificatesAfter(ctx(t), "", nil, 0); err == nil {
		t.Error("CertificatesAfter with limit 0 accepted")
	}

	// Look-ups: present serials come back, absent ones are left out.
	absent := randSerial(t)
	got, err := s.GetCertificates(ctx(t), "ca", []*big.Int{big.NewInt(0x10), absent, big.NewInt(0x2)})
	if err != nil {
		t.Fatalf("GetCertificates: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("GetCertificates gave %d rows, want 2", len(got))
	}
	for _, c := range got {
		sameCert(t, c, want["ca/"+c.Serial.Text(16)])
	}
	if got, err := s.GetCertificates(ctx(t), "no-such-ca", []*big.Int{big.NewInt(2)}); err != nil || len(got) != 0 {
		t.Errorf("GetCertificates of an unknown issuer = %v, %v", got, err)
	}
	for _, bad := range [][]*big.Int{nil, make([]*big.Int, store.MaxLookup+1), {big.NewInt(0)}} {
		for i := range bad {
			if bad[i] == nil && len(bad) > 1 {
				bad[i] = big.NewInt(int64(i + 1))
			}
		}
		if _, err := s.GetCertificates(ctx(t), "ca", bad); err == nil {
			t.Errorf("GetCertificates of %d serials accepted", len(bad))
		}
	}
}

func testTSAWalk(t *testing.T, s store.Store) {
	sg := tsaSigner(t, s)
	want := map[string]store.TSAToken{}
	for _, n := range []*big.Int{big.NewInt(0xf), big.NewInt(0x10), big.NewInt(0x2), randSerial(t), randSerial(t), randSerial(t)} {
		tk := tsaToken(t, sg, n)
		if err := insertToken(s, tk); err != nil {
			t.Fatal(err)
		}
		want[n.Text(16)] = tk
	}
	same := func(got store.TSAToken) {
		t.Helper()
		w, ok := want[got.Serial.Text(16)]
		if !ok {
			t.Fatalf("unknown token %x", got.Serial)
		}
		if !bytes.Equal(got.TokenDER, w.TokenDER) || !bytes.Equal(got.MessageImprint, w.MessageImprint) ||
			got.SignerSerial.Cmp(w.SignerSerial) != 0 || got.Requester != w.Requester {
			t.Errorf("token %x = %+v, want %+v", got.Serial, got, w)
		}
		sameTime(t, "GenTime", got.GenTime, w.GenTime)
		sameTime(t, "IssuedAt", got.IssuedAt, w.IssuedAt)
	}
	for _, page := range []int{1, 4, 100} {
		var got []store.TSAToken
		var after *big.Int
		for {
			p, err := s.TSATokensAfter(ctx(t), after, page)
			if err != nil {
				t.Fatalf("TSATokensAfter: %v", err)
			}
			got = append(got, p...)
			if len(p) < page {
				break
			}
			after = p[len(p)-1].Serial
		}
		if len(got) != len(want) {
			t.Fatalf("page %d: walked %d tokens, want %d", page, len(got), len(want))
		}
		for i, tk := range got {
			same(tk)
			if i > 0 && got[i-1].Serial.Text(16) >= tk.Serial.Text(16) {
				t.Fatalf("page %d: %x walked before %x", page, got[i-1].Serial, tk.Serial)
			}
		}
	}
	if n, err := s.CountTSATokens(ctx(t)); err != nil || n != int64(len(want)) {
		t.Errorf("CountTSATokens = %d, %v; want %d", n, err, len(want))
	}
	got, err := s.GetTSATokens(ctx(t), []*big.Int{big.NewInt(0x10), randSerial(t), big.NewInt(0xf)})
	if err != nil || len(got) != 2 {
		t.Fatalf("GetTSATokens = %d rows, %v; want 2", len(got), err)
	}
	for _, tk := range got {
		same(tk)
	}
	if _, err := s.GetTSATokens(ctx(t), nil); err == nil {
		t.Error("GetTSATokens of no serials accepted")
	}
}

// A snapshot sees the database as of its first read, while a writer
// commits beside it (not blocked by it).
func testReadSnapshot(t *testing.T, s store.Store) {
	sg := tsaSigner(t, s)
	if err := insertToken(s, tsaToken(t, sg, randSerial(t))); err != nil {
		t.Fatal(err)
	}
	err := s.ReadSnapshot(ctx(t), func(ctx context.Context, r store.Reader) error {
		if n, err := r.CountTSATokens(ctx); err != nil || n != 1 {
			t.Fatalf("in snapshot: %d tokens, %v; want 1", n, err)
		}
		if err := insertToken(s, tsaToken(t, sg, randSerial(t))); err != nil {
			t.Fatalf("write beside a snapshot: %v", err)
		}
		if n, err := s.CountTSATokens(ctx); err != nil || n != 2 {
			t.Fatalf("outside the snapshot: %d tokens, %v; want 2", n, err)
		}
		if n, err := r.CountTSATokens(ctx); err != nil || n != 1 {
			t.Fatalf("snapshot sees a later commit: %d tokens, %v; want 1", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ReadSnapshot: %v", err)
	}
}
