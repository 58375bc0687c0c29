package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Default limits of a fetch: the network is untrusted, and a validation
// must end in bounded time and memory whatever a URL in a certificate
// points at.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultMaxOCSPBytes = 64 << 10
	DefaultMaxCertBytes = 64 << 10
	DefaultMaxCRLBytes  = 16 << 20
	DefaultMaxRedirects = 3
)

// errTooLarge marks a body over its limit.
var errTooLarge = errors.New("answer over the size limit")

// fetcher reads URLs with a timeout, a size limit and a redirect limit.
type fetcher struct {
	client       *http.Client
	timeout      time.Duration
	maxRedirects int
}

func newFetcher(c *http.Client, timeout time.Duration, maxRedirects int) *fetcher {
	if c == nil {
		c = &http.Client{}
	}
	cc := *c // our redirect policy, the caller's transport
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return fmt.Errorf("more than %d redirects", maxRedirects)
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to a %q URL", req.URL.Scheme)
		}
		return nil
	}
	return &fetcher{client: &cc, timeout: timeout, maxRedirects: maxRedirects}
}

// get fetches u (POSTing body with contentType when body is not nil) and
// returns at most max octets of a 200 answer.
func (f *fetcher) get(ctx context.Context, u string, body []byte, contentType string, max int64) ([]byte, error) {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
		return nil, fmt.Errorf("not an http(s) URL: %q", u)
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	method, rd := http.MethodGet, io.Reader(nil)
	if body != nil {
		method, rd = http.MethodPost, bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := f.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("no answer within %s", f.timeout)
		}
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", res.Status)
	}
	if res.ContentLength > max {
		return nil, fmt.Errorf("%w: %d octets announced, limit %d", errTooLarge, res.ContentLength, max)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, max+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("no complete answer within %s", f.timeout)
		}
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: over %d octets", errTooLarge, max)
	}
	return b, nil
}
