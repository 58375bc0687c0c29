package ocsp

import (
	"context"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type countingSource struct{ calls int }

func (c *countingSource) Response(context.Context, CertID) (*Cached, error) {
	c.calls++
	return &Cached{DER: []byte{0x30, 0}, ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour), ETag: `"x"`}, nil
}
func (c *countingSource) Sign(context.Context, *Request) ([]byte, error) { return []byte{0x30, 0}, nil }

func requestDER(t *testing.T, serial int64, nonce []byte) []byte {
	t.Helper()
	h := make([]byte, 20)
	id := asnCertID{Hash: hashAlg(crypto.SHA1), NameHash: h, KeyHash: h, Serial: big.NewInt(serial)}
	return mustMarshalRequest(t, id, nonce)
}

// The parse of a cacheable request is remembered by its bytes (and gives
// the same answer); nonce requests are not remembered; the memo is
// bounded.
func TestRequestMemo(t *testing.T) {
	src := &countingSource{}
	rs := NewResponder(src, nil)
	do := func(der []byte) {
		t.Helper()
		w := httptest.NewRecorder()
		rs.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/ocsp", strings.NewReader(string(der))))
		if w.Code != 200 {
			t.Fatalf("HTTP %d", w.Code)
		}
	}
	one := requestDER(t, 42, nil)
	do(one)
	do(one)
	if len(rs.memo) != 1 || src.calls != 2 {
		t.Fatalf("memo %d entries, %d answers", len(rs.memo), src.calls)
	}
	do(requestDER(t, 43, []byte{1, 2, 3}))
	if len(rs.memo) != 1 {
		t.Fatalf("a nonce request was remembered: %d entries", len(rs.memo))
	}
	for i := range memoEntries + 5 {
		if _, err := rs.parse(requestDER(t, int64(1000+i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	if len(rs.memo) > memoEntries {
		t.Fatalf("memo grew to %d", len(rs.memo))
	}
	if _, err := rs.parse([]byte{0x30, 0x03, 0x0a, 0x01, 0x01}); err == nil {
		t.Fatal("garbage parsed")
	}
}

func mustMarshalRequest(t *testing.T, id asnCertID, nonce []byte) []byte {
	t.Helper()
	tbs := asnTBSRequest{List: []asnSingleRequest{{CertID: id}}}
	if nonce != nil {
		v, err := asn1.Marshal(nonce)
		if err != nil {
			t.Fatal(err)
		}
		tbs.Extensions = []pkix.Extension{{Id: oidNonce, Value: v}}
	}
	b, err := asn1.Marshal(asnOCSPRequest{TBS: tbs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
