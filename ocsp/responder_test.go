package ocsp_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/muhr-pki/muhr/ocsp"
)

func post(t *testing.T, url, ctype string, body []byte) (*http.Response, []byte) {
	t.Helper()
	return send(t, url, ctype, bytes.NewReader(body))
}

// send POSTs body and reads the whole answer.
func send(t *testing.T, url, ctype string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url, ctype, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func errorStatus(b []byte) int {
	if len(b) == 5 && bytes.Equal(b[:4], []byte{0x30, 0x03, 0x0a, 0x01}) {
		return int(b[4])
	}
	return -1
}

// Bodies that break the rules get malformedRequest (or 413/415 at the
// HTTP level); a nonce of 1..128 octets is echoed in a signed answer.
func TestResponderMalformedAndNonce(t *testing.T) {
	e := newEnv(t)
	leaf, _ := e.leaf(t, true)
	one := certIDs(e.p.Issuing, crypto.SHA1, leaf.SerialNumber)
	const ct = "application/ocsp-request"
	for name, body := range map[string][]byte{
		"garbage":    []byte("not DER"),
		"empty":      {},
		"51 CertIDs": marshal(t, tReq{tTBS{List: certIDs(e.p.Issuing, crypto.SHA1, serials(51)...)}}),
		"nonce 0":    marshal(t, tReq{tTBS{List: one, Exts: []pkix.Extension{nonceExt([]byte{})}}}),
		"nonce 129":  marshal(t, tReq{tTBS{List: one, Exts: []pkix.Extension{nonceExt(make([]byte, 129))}}}),
	} {
		resp, b := post(t, e.url, ct, body)
		if resp.StatusCode != 200 || errorStatus(b) != int(ocsp.MalformedRequest) {
			t.Errorf("%s: %s %x, want malformedRequest", name, resp.Status, b)
		}
	}
	resp, _ := post(t, e.url, ct, make([]byte, ocsp.MaxRequestBytes+1))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("64 KiB + 1: %s, want 413", resp.Status)
	}
	resp, _ = post(t, e.url, "text/plain", marshal(t, tReq{tTBS{List: one}}))
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %s, want 415", resp.Status)
	}
	for _, n := range []int{1, 32, 128} {
		nonce := bytes.Repeat([]byte{byte(n)}, n)
		_, b := post(t, e.url, ct, marshal(t, tReq{tTBS{List: one, Exts: []pkix.Extension{nonceExt(nonce)}}}))
		r, err := xocsp.ParseResponseForCert(b, leaf, e.p.Issuing)
		if err != nil || r.Status != xocsp.Good {
			t.Fatalf("nonce %d: %v %+v", n, err, r)
		}
		var echoed []byte
		for _, x := range responseExtensions(t, r.TBSResponseData) {
			if x.Id.Equal(oidNonce) {
				if _, err := asn1Unmarshal(x.Value, &echoed); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !bytes.Equal(echoed, nonce) {
			t.Errorf("nonce %d echoed as %x", n, echoed)
		}
	}
}

// GET paths whose base64 holds "//" and "+", raw and percent-encoded, with
// and without padding, reach the responder (the raw route: no redirect).
func TestResponderGETSlashes(t *testing.T) {
	e := newEnv(t)
	want := map[string]bool{"//": false, "+": false}
	for s := int64(1); s < 20000 && (!want["//"] || !want["+"]); s++ {
		serial := big.NewInt(s * 7919)
		b64 := base64.StdEncoding.EncodeToString(marshal(t, tReq{tTBS{List: certIDs(e.p.Issuing, crypto.SHA1, serial)}}))
		var hit string
		for k, done := range want {
			if !done && strings.Contains(b64, k) {
				hit = k
			}
		}
		if hit == "" {
			continue
		}
		want[hit] = true
		enc := strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(b64)
		for _, path := range []string{b64, enc, strings.TrimRight(b64, "="), strings.TrimRight(enc, "%3D")} {
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Get(e.url + "/" + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET %q: %s", path, resp.Status)
			}
			r, err := xocsp.ParseResponse(b, e.p.Issuing)
			if err != nil || r.SerialNumber.Cmp(serial) != 0 || r.Status != xocsp.Revoked || r.RevokedAt.Unix() != 0 {
				t.Fatalf("GET %q (%s): %v %+v", path, hit, err, r)
			}
		}
	}
	if !want["//"] || !want["+"] {
		t.Fatalf("found no request whose base64 holds // and +: %v", want)
	}
	for _, path := range []string{"", "!!!", "AAAA"} {
		resp := get(t, e.url+"/"+path, "")
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if errorStatus(b) != int(ocsp.MalformedRequest) {
			t.Errorf("GET %q: %x, want malformedRequest", path, b)
		}
	}
}

// SHA-256 CertIDs are answered with SHA-256 CertIDs, signed.
func TestSHA256CertID(t *testing.T) {
	e := newEnv(t)
	leaf, _ := e.leaf(t, true)
	req, err := xocsp.CreateRequest(leaf, e.p.Issuing, &xocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	_, b := post(t, e.url, "application/ocsp-request", req)
	r, err := xocsp.ParseResponseForCert(b, leaf, e.p.Issuing)
	if err != nil || r.Status != xocsp.Good || r.IssuerHash != crypto.SHA256 {
		t.Fatalf("%v %+v", err, r)
	}
	if r.NextUpdate.Sub(r.ThisUpdate) != validity {
		t.Errorf("nextUpdate − thisUpdate = %v, want %v", r.NextUpdate.Sub(r.ThisUpdate), validity)
	}
}

// The refresher signs ahead; with the database away the pre-signed answer
// keeps being served and Health fails (degraded); what was never signed is
// tryLater, never a guess.
func TestCacheServesWithDatabaseDown(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	leaf, _ := e.leaf(t, true)
	n, err := e.auth.Refresh(ctx)
	if err != nil || n < 1 {
		t.Fatalf("Refresh: %d, %v", n, err)
	}
	e.st.down.Store(true)
	req, _ := xocsp.CreateRequest(leaf, e.p.Issuing, nil)
	_, b := post(t, e.url, "application/ocsp-request", req)
	if r, err := xocsp.ParseResponseForCert(b, leaf, e.p.Issuing); err != nil || r.Status != xocsp.Good {
		t.Fatalf("pre-signed answer with the database down: %v %+v", err, r)
	}
	// A nonce request is signed live, from the cached status.
	one := certIDs(e.p.Issuing, crypto.SHA1, leaf.SerialNumber)
	_, b = post(t, e.url, "application/ocsp-request", marshal(t, tReq{tTBS{List: one, Exts: []pkix.Extension{nonceExt([]byte{1, 2})}}}))
	if r, err := xocsp.ParseResponseForCert(b, leaf, e.p.Issuing); err != nil || r.Status != xocsp.Good {
		t.Fatalf("nonce request with the database down: %v %x", err, b)
	}
	other, _ := e.leaf(t, true)
	req, _ = xocsp.CreateRequest(other, e.p.Issuing, nil)
	_, b = post(t, e.url, "application/ocsp-request", req)
	if errorStatus(b) != int(ocsp.TryLater) {
		t.Errorf("uncached serial with the database down: %x, want tryLater", b)
	}
	if err := e.auth.Health(ctx); !errors.Is(err, ocsp.ErrUnavailable) {
		t.Errorf("Health with the database down: %v", err)
	}
	e.st.down.Store(false)
	_, b = post(t, e.url, "application/ocsp-request", req)
	if r, err := xocsp.ParseResponseForCert(b, other, e.p.Issuing); err != nil || r.Status != xocsp.Good {
		t.Fatalf("database back: %v %+v", err, r)
	}
	if err := e.auth.Health(ctx); err != nil {
		t.Errorf("Health with the database back: %v", err)
	}
}

// A cached answer is re-signed by the refresher after a quarter of its
// validity, on demand after half, and served stale (still valid) only while
// the database is away; past nextUpdate it is never served.
func TestResignSchedule(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	leaf, _ := e.leaf(t, true)
	t0 := time.Now().Truncate(time.Second)
	e.setNow(t0)
	ids := certIDs(e.p.Issuing, crypto.SHA1, leaf.SerialNumber)
	id := ocsp.CertID{Hash: crypto.SHA1, NameHash: ids[0].ID.NameHash, KeyHash: ids[0].ID.KeyHash, Serial: leaf.SerialNumber}
	c1, err := e.auth.Response(ctx, id)
	if err != nil || !c1.ThisUpdate.Equal(t0) {
		t.Fatalf("first: %v %+v", err, c1)
	}
	e.setNow(t0.Add(validity/4 - time.Second))
	if c, _ := e.auth.Response(ctx, id); c != c1 {
		t.Error("re-signed before a quarter of the validity")
	}
	if _, err := e.auth.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.auth.Response(ctx, id); c != c1 {
		t.Error("refresher re-signed before a quarter of the validity")
	}
	e.setNow(t0.Add(validity / 4))
	if _, err := e.auth.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	c2, _ := e.auth.Response(ctx, id)
	if c2 == c1 || !c2.ThisUpdate.Equal(t0.Add(validity/4)) {
		t.Fatalf("refresher did not re-sign at a quarter: %+v", c2)
	}
	// On demand at half the validity, without the refresher.
	e.setNow(c2.ThisUpdate.Add(validity / 2))
	c3, _ := e.auth.Response(ctx, id)
	if c3 == c2 {
		t.Fatal("served past half its validity while the database answers")
	}
	e.st.down.Store(true)
	e.setNow(c3.ThisUpdate.Add(validity - time.Second))
	if c, err := e.auth.Response(ctx, id); err != nil || c != c3 {
		t.Errorf("database down, answer still valid: %v", err)
	}
	e.setNow(c3.NextUpdate)
	if _, err := e.auth.Response(ctx, id); !errors.Is(err, ocsp.ErrUnavailable) {
		t.Errorf("database down, answer expired: %v, want ErrUnavailable", err)
	}
}

// Invalidate makes the next answer read the new status.
func TestInvalidate(t *testing.T) {
	e := newEnv(t)
	leaf, _ := e.leaf(t, true)
	req, _ := xocsp.CreateRequest(leaf, e.p.Issuing, nil)
	status := func() int {
		_, b := post(t, e.url, "application/ocsp-request", req)
		r, err := xocsp.ParseResponseForCert(b, leaf, e.p.Issuing)
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	if s := status(); s != xocsp.Good {
		t.Fatalf("status %d", s)
	}
	at := time.Now().Add(-time.Minute)
	if _, err := e.db.Exec(`UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = 1 WHERE serial = ?`,
		at.UnixMicro(), leaf.SerialNumber.Text(16)); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != xocsp.Good {
		t.Fatalf("cached answer changed without Invalidate: %d", s)
	}
	e.auth.Invalidate(caID, leaf.SerialNumber)
	if s := status(); s != xocsp.Revoked {
		t.Fatalf("after Invalidate: %d, want revoked", s)
	}
}

// responseExtensions reads ResponseData's responseExtensions, which
// x/crypto/ocsp does not expose.
func responseExtensions(t *testing.T, tbs []byte) []pkix.Extension {
	t.Helper()
	var rd struct {
		Raw        asn1.RawContent
		Version    int `asn1:"optional,explicit,default:0,tag:0"`
		Responder  asn1.RawValue
		Produced   time.Time `asn1:"generalized"`
		Responses  asn1.RawValue
		Extensions []pkix.Extension `asn1:"explicit,tag:1,optional"`
	}
	if rest, err := asn1.Unmarshal(tbs, &rd); err != nil || len(rest) > 0 {
		t.Fatalf("ResponseData: %v", err)
	}
	return rd.Extensions
}

// Follow invalidates what the status-change feed reports, so a revocation
// reaches the next answer without waiting for the re-sign.
func TestFollowStatusChanges(t *testing.T) {
	e := newEnv(t)
	leaf, _ := e.leaf(t, true)
	req, _ := xocsp.CreateRequest(leaf, e.p.Issuing, nil)
	status := func() int {
		_, b := post(t, e.url, "application/ocsp-request", req)
		r, err := xocsp.ParseResponseForCert(b, leaf, e.p.Issuing)
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	if s := status(); s != xocsp.Good {
		t.Fatalf("status %d", s)
	}
	var mu sync.Mutex
	var changes []ocsp.Change
	feed := func(_ context.Context, after int64, limit int) ([]ocsp.Change, error) {
		mu.Lock()
		defer mu.Unlock()
		var out []ocsp.Change
		for _, c := range changes {
			if c.Seq > after && len(out) < limit {
				out = append(out, c)
			}
		}
		return out, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.auth.Follow(ctx, feed, 0, 10*time.Millisecond); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if _, err := e.db.Exec(`UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = 1 WHERE serial = ?`,
		time.Now().UnixMicro(), leaf.SerialNumber.Text(16)); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != xocsp.Good {
		t.Fatalf("changed before the feed said so: %d", s)
	}
	mu.Lock()
	changes = append(changes, ocsp.Change{Seq: 1, IssuerID: caID, Serial: leaf.SerialNumber})
	mu.Unlock()
	// Bounded wait for the poller, not a speed assertion.
	for deadline := time.Now().Add(30 * time.Second); status() != xocsp.Revoked; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the feed's change never reached the answer")
		}
	}
}

// An expired certificate keeps being answered with its real status.
func TestExpiredKeepsStatus(t *testing.T) {
	e := newEnv(t)
	leaf, _ := e.leaf(t, true)
	e.setNow(leaf.NotAfter.Add(365 * 24 * time.Hour))
	req, _ := xocsp.CreateRequest(leaf, e.p.Issuing, nil)
	_, b := post(t, e.url, "application/ocsp-request", req)
	if r, err := xocsp.ParseResponseForCert(b, leaf, e.p.Issuing); err != nil || r.Status != xocsp.Good {
		t.Fatalf("expired, good: %v %+v", err, r)
	}
	e.setStatus(t, leaf.SerialNumber, "revoked", leaf.NotBefore.Add(time.Minute), 3)
	_, b = post(t, e.url, "application/ocsp-request", req)
	if r, err := xocsp.ParseResponseForCert(b, leaf, e.p.Issuing); err != nil || r.Status != xocsp.Revoked || r.RevocationReason != 3 {
		t.Fatalf("expired, revoked: %v %+v", err, r)
	}
}

// A status change announced (Invalidate) while an answer is being made from
// the status read just before it must not leave that older answer cached:
// it is served once, and the next request reads the new status.
func TestInvalidateDuringReadIsNotCachedOver(t *testing.T) {
	e := newEnv(t)
	leaf, _ := e.leaf(t, true)
	req, _ := xocsp.CreateRequest(leaf, e.p.Issuing, nil)
	status := func() int {
		_, b := post(t, e.url, "application/ocsp-request", req)
		r, err := xocsp.ParseResponseForCert(b, leaf, e.p.Issuing)
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	change := func() {
		if _, err := e.db.Exec(`UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = 1 WHERE serial = ?`,
			time.Now().Add(-time.Second).UnixMicro(), leaf.SerialNumber.Text(16)); err != nil {
			t.Error(err)
		}
		e.auth.Invalidate(caID, leaf.SerialNumber)
	}
	e.st.afterRead.Store(&change)
	if s := status(); s != xocsp.Good {
		t.Fatalf("first answer %d, want the good read before the change", s)
	}
	if s := status(); s != xocsp.Revoked {
		t.Fatalf("after the change: %d, want revoked (a stale good was cached over the invalidation)", s)
	}
}

// postChunked sends body with no declared length (Transfer-Encoding:
// chunked), as a streaming client does: net/http's client cannot know the
// length of a MultiReader.
func postChunked(t *testing.T, url string, body []byte) (*http.Response, []byte) {
	t.Helper()
	return send(t, url, "application/ocsp-request", io.MultiReader(bytes.NewReader(body)))
}

// A chunked POST (no Content-Length) is read up to the 64 KiB cap: a
// request is answered, one octet over the cap gets 413, and chunked bytes
// that do not parse get malformedRequest.
func TestResponderChunkedBody(t *testing.T) {
	e := newEnv(t)
	leaf, _ := e.leaf(t, true)
	resp, b := postChunked(t, e.url, marshal(t, tReq{tTBS{List: certIDs(e.p.Issuing, crypto.SHA256, leaf.SerialNumber)}}))
	if r, err := xocsp.ParseResponseForCert(b, leaf, e.p.Issuing); resp.StatusCode != 200 || err != nil || r.Status != xocsp.Good {
		t.Fatalf("chunked request: %s %v %+v", resp.Status, err, r)
	}
	if resp, _ := postChunked(t, e.url, make([]byte, ocsp.MaxRequestBytes+1)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked 64 KiB + 1: %s, want 413", resp.Status)
	}
	if resp, b := postChunked(t, e.url, []byte("not DER")); resp.StatusCode != 200 || errorStatus(b) != int(ocsp.MalformedRequest) {
		t.Errorf("chunked garbage: %s %x, want malformedRequest", resp.Status, b)
	}
}
