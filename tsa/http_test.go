package tsa_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/muhr-pki/muhr/tsa"
)

func TestHTTPEdges(t *testing.T) {
	e := newEnv(t, nil, nil)
	do := func(method, ct string, body io.Reader, chunked bool) int {
		t.Helper()
		req, err := http.NewRequest(method, e.url+"/tsa", body)
		if err != nil {
			t.Fatal(err)
		}
		if chunked {
			req.ContentLength = -1
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	big := bytes.Repeat([]byte{0x30}, tsa.MaxRequestBytes+1)
	cases := []struct {
		name    string
		method  string
		ct      string
		body    []byte
		chunked bool
		want    int
	}{
		{"over 64 KiB", http.MethodPost, tsa.QueryType, big, false, http.StatusRequestEntityTooLarge},
		{"over 64 KiB chunked", http.MethodPost, tsa.QueryType, big, true, http.StatusRequestEntityTooLarge},
		{"exactly 64 KiB of garbage is a rejection", http.MethodPost, tsa.QueryType, big[:tsa.MaxRequestBytes], false, http.StatusOK},
		{"wrong media type", http.MethodPost, "application/octet-stream", request(t, nil), false, http.StatusUnsupportedMediaType},
		{"no media type", http.MethodPost, "", request(t, nil), false, http.StatusUnsupportedMediaType},
		{"GET", http.MethodGet, "", nil, false, http.StatusMethodNotAllowed},
		{"media type with parameter", http.MethodPost, tsa.QueryType + "; charset=binary", request(t, nil), false, http.StatusOK},
		{"media type in capitals", http.MethodPost, "Application/TimeStamp-Query", request(t, nil), false, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != nil {
				body = bytes.NewReader(tc.body)
			}
			if got := do(tc.method, tc.ct, body, tc.chunked); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
		})
	}
}
