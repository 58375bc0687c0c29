package verify_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/verify"
)

func multipartBody(t testing.TB, parts map[string][]byte) (*bytes.Buffer, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for name, v := range parts {
		w, _ := mw.CreateFormFile(name, name+".bin")
		w.Write(v)
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

func postValidate(t testing.TB, url string, parts map[string][]byte) (int, string) {
	t.Helper()
	body, ct := multipartBody(t, parts)
	res, err := http.Post(url, ct, body)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestValidateEndpoint(t *testing.T) {
	p := newSoftPKI(t)
	cert, key := p.signer(t, nil)
	sig := p.sign(t, doc, cert, key, true, false)
	h := verify.NewHandler(p.validator(t, nil), verify.HandlerOptions{MaxUploadBytes: 1 << 20})
	srv := httptest.NewServer(h)
	defer srv.Close()

	code, body := postValidate(t, srv.URL, map[string][]byte{"signature": sig, "content": doc})
	var rep verify.Report
	if code != 200 || json.Unmarshal([]byte(body), &rep) != nil {
		t.Fatalf("%d %s", code, body)
	}
	want(t, rep.Status, verify.Passed, "")
	code, body = postValidate(t, srv.URL+"?format=etsi", map[string][]byte{"signature": sig, "content": doc})
	if code != 200 || !strings.Contains(body, "<ValidationReport xmlns=\""+verify.ETSINamespace+"\"") {
		t.Fatalf("etsi: %d %s", code, body)
	}
	code, body = postValidate(t, srv.URL, map[string][]byte{"signature": sig, "content": []byte("other")})
	if code != 200 || !strings.Contains(body, `"subIndication": "HASH_FAILURE"`) {
		t.Fatalf("other content: %d %s", code, body)
	}
	code, body = postValidate(t, srv.URL, map[string][]byte{"certificate": cert.Raw})
	if code != 200 || !strings.Contains(body, `"indication": "TOTAL-PASSED"`) {
		t.Fatalf("certificate: %d %s", code, body)
	}
	for name, parts := range map[string]map[string][]byte{
		"nothing":      {"content": doc},
		"unknown part": {"signature": sig, "file": doc},
		"both":         {"signature": sig, "certificate": cert.Raw},
		"bad cert":     {"certificate": []byte("no")},
	} {
		if code, body := postValidate(t, srv.URL, parts); code != 400 || len(body) < 5 {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
	// A blob that is no CMS: a report with FORMAT_FAILURE, not an error.
	if code, body := postValidate(t, srv.URL, map[string][]byte{"signature": bytes.Repeat([]byte{0x30, 0x80}, 10000)}); code != 200 || !strings.Contains(body, "FORMAT_FAILURE") {
		t.Fatalf("deep: %d %s", code, body)
	}
}

// A 100 MB upload is refused at the configured limit, whether it says its
// length or streams it, without the server reading it all.
func TestValidate100MBRefusedAtLimit(t *testing.T) {
	p := newSoftPKI(t)
	h := verify.NewHandler(p.validator(t, nil), verify.HandlerOptions{MaxUploadBytes: 1 << 20})
	srv := httptest.NewServer(h)
	defer srv.Close()
	const size = 100 << 20
	// Declared length.
	req, _ := http.NewRequest(http.MethodPost, srv.URL, io.LimitReader(zeros{}, size))
	req.ContentLength = size
	req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("declared: %d", res.StatusCode)
	}
	// Streamed (chunked): one multipart part of 100 MB.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	sentc := make(chan int64, 1)
	go func() {
		w, _ := mw.CreateFormFile("signature", "big.p7s")
		n, err := io.Copy(w, io.LimitReader(zeros{}, size))
		sentc <- n
		if err == nil {
			mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, _ = http.NewRequest(http.MethodPost, srv.URL, pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err = http.DefaultClient.Do(req)
	if err == nil {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "over 1048576") {
			t.Fatalf("streamed: %d %s", res.StatusCode, b)
		}
	}
	pr.Close()
	if sent := <-sentc; sent >= size {
		t.Fatalf("the server read all %d octets", sent)
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// A validation ends at its timeout however the network behaves, and no
// more than MaxConcurrent run at once.
func TestValidateTimeoutAndConcurrencyBound(t *testing.T) {
	p := newSoftPKI(t)
	cert, key := p.signer(t, func(c *x509.Certificate) {
		c.OCSPServer = []string{p.url + "/hang"}
		c.CRLDistributionPoints = []string{p.url + "/hang"}
	})
	sig := p.sign(t, doc, cert, key, false, false)
	v := p.validator(t, func(o *verify.Options) { o.Timeout = 10 * time.Second })
	h := verify.NewHandler(v, verify.HandlerOptions{Timeout: 400 * time.Millisecond, MaxConcurrent: 1, Queue: 50 * time.Millisecond})
	srv := httptest.NewServer(h)
	defer srv.Close()
	var wg sync.WaitGroup
	var first string
	var firstCode int
	start := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		firstCode, first = postValidate(t, srv.URL, map[string][]byte{"signature": sig, "content": doc})
	}()
	time.Sleep(100 * time.Millisecond)
	code, body := postValidate(t, srv.URL, map[string][]byte{"signature": sig, "content": doc})
	if code != http.StatusServiceUnavailable {
		t.Fatalf("second while the first runs: %d %s", code, body)
	}
	wg.Wait()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %s", d)
	}
	if firstCode != 200 || !strings.Contains(first, "TRY_LATER") {
		t.Fatalf("first: %d %s", firstCode, first)
	}
}

// slowPost sends the multipart body in ten pieces spread over spread (a
// chunked body through a pipe, as a slow link delivers it).
func slowPost(t *testing.T, url string, parts map[string][]byte, spread time.Duration) (int, string) {
	t.Helper()
	body, ct := multipartBody(t, parts)
	pr, pw := io.Pipe()
	go func() {
		b := body.Bytes()
		step := len(b)/10 + 1
		for len(b) > 0 {
			time.Sleep(spread / 10)
			k := min(step, len(b))
			if _, err := pw.Write(b[:k]); err != nil {
				return
			}
			b = b[k:]
		}
		pw.Close()
	}()
	res, err := http.Post(url, ct, pr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// An upload that takes longer than the validation timeout still gets the
// whole timeout for its validation: the clock starts once the body is in.
func TestValidateTimeoutStartsAfterUpload(t *testing.T) {
	p := newSoftPKI(t)
	cert, key := p.signer(t, nil)
	sig := p.sign(t, doc, cert, key, true, false)
	h := verify.NewHandler(p.validator(t, nil), verify.HandlerOptions{Timeout: 300 * time.Millisecond,
		MinUploadRate: 1, UploadGrace: time.Minute})
	srv := httptest.NewServer(h)
	defer srv.Close()
	code, body := slowPost(t, srv.URL, map[string][]byte{"signature": sig, "content": doc}, time.Second)
	var rep verify.Report
	if code != 200 || json.Unmarshal([]byte(body), &rep) != nil {
		t.Fatalf("%d %s", code, body)
	}
	want(t, rep.Status, verify.Passed, "")
}

// A body trickling in under MinUploadRate after the grace period gets 408,
// and frees its slot for the next client.
func TestValidateTrickleUploadRefused(t *testing.T) {
	p := newSoftPKI(t)
	cert, key := p.signer(t, nil)
	sig := p.sign(t, doc, cert, key, true, false)
	h := verify.NewHandler(p.validator(t, nil), verify.HandlerOptions{MaxConcurrent: 1,
		MinUploadRate: 1 << 20, UploadGrace: 200 * time.Millisecond})
	srv := httptest.NewServer(h)
	defer srv.Close()
	start := time.Now()
	code, body := slowPost(t, srv.URL, map[string][]byte{"signature": sig, "content": doc}, 3*time.Second)
	if code != http.StatusRequestTimeout || !strings.Contains(body, "upload too slow") {
		t.Fatalf("trickled body: %d %s, want 408", code, body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refused after %v; the grace is 200ms", d)
	}
	if code, body := postValidate(t, srv.URL, map[string][]byte{"signature": sig, "content": doc}); code != 200 {
		t.Fatalf("next client: %d %s", code, body)
	}
}
