package checkpoint

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Timestamper answers a DER TimeStampReq with a DER TimeStampResp: the
// center's TSA, in process (tsa.Server.Respond) or over HTTP.
type Timestamper interface {
	Timestamp(ctx context.Context, req []byte) ([]byte, error)
}

// TimestamperFunc adapts a function, such as a wrapper around
// tsa.Server.Respond, to Timestamper.
type TimestamperFunc func(ctx context.Context, req []byte) ([]byte, error)

// Timestamp calls f.
func (f TimestamperFunc) Timestamp(ctx context.Context, req []byte) ([]byte, error) {
	return f(ctx, req)
}

// HTTPTimestamper posts requests to a TSA's URL (RFC 3161 §3.4).
type HTTPTimestamper struct {
	URL    string
	Client *http.Client // nil: a client with a 30 s timeout
}

// maxResponse bounds a TSA's answer (a token with its chain is a few KB).
const maxResponse = 1 << 20

// Timestamp posts req and returns the response body.
func (h HTTPTimestamper) Timestamp(ctx context.Context, req []byte) ([]byte, error) {
	c := h.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(req))
	if err != nil {
		return nil, fmt.Errorf("TSA %s: %w", h.URL, err)
	}
	r.Header.Set("Content-Type", "application/timestamp-query")
	resp, err := c.Do(r)
	if err != nil {
		return nil, fmt.Errorf("TSA %s: %w", h.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("TSA %s: %w", h.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("TSA %s: HTTP %d", h.URL, resp.StatusCode)
	}
	if len(body) > maxResponse {
		return nil, fmt.Errorf("TSA %s: response over %d bytes", h.URL, maxResponse)
	}
	return body, nil
}
