package ocsp_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/muhr-pki/muhr/store"
)

// Serials of a pending issuance (signed, or about to be, but not stored)
// and of an abandoned one are never good: they are answered as
// never-issued, revoked 1970-01-01.
func TestPendingAndAbandonedSerialsNeverGood(t *testing.T) {
	e := newEnv(t)
	for i, state := range []string{store.IntentPending, store.IntentAbandoned} {
		leaf, _ := e.leaf(t, false)
		e.reserve(t, leaf.SerialNumber)
		sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
		now := time.Now()
		err := e.p.Store.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
			return tx.InsertIntent(ctx, store.IssuanceIntent{IssuerID: caID, Serial: leaf.SerialNumber, RequestID: "req-" + state,
				Profile: "test", SPKIHash: sum[:], State: state, CreatedAt: now, UpdatedAt: now})
		})
		if err != nil {
			t.Fatalf("intent %s: %v", state, err)
		}
		req, _ := xocsp.CreateRequest(leaf, e.p.Issuing, nil)
		_, b := post(t, e.url, "application/ocsp-request", req)
		r, err := xocsp.ParseResponseForCert(b, leaf, e.p.Issuing)
		if err != nil || r.Status != xocsp.Revoked || r.RevokedAt.Unix() != 0 {
			t.Fatalf("%d %s serial: %v %+v", i, state, err, r)
		}
	}
}
