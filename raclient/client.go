package raclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/muhr-pki/muhr/errkind"
)

// maxResponse bounds what the client reads of one answer (a certificate
// list of 100 PEMs is far below it).
const maxResponse = 32 << 20

// Options configure New.
type Options struct {
	Config Config
	// PIN is asked for the smart card's PIN when the key is a pkcs11: URI
	// and neither the URI nor the config names a PIN file; nil refuses.
	PIN func(what string) ([]byte, error)
}

// Client calls the officer API. It is safe for concurrent use.
type Client struct {
	base    string
	http    *http.Client
	timeout time.Duration
	closeFn func() error
}

// New loads the officer's certificate and key (opening the card for a
// pkcs11: key) and the CA bundle, and returns a client. Nothing is sent yet.
// Close it to let go of the card.
func New(ctx context.Context, o Options) (*Client, error) {
	c := o.Config
	roots, err := loadRoots(c.CABundle)
	if err != nil {
		return nil, err
	}
	cert, closeFn, err := loadClientCert(ctx, c, o.PIN)
	if err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dialer := &net.Dialer{Timeout: min(timeout, 10*time.Second)}
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
		TLSClientConfig: &tls.Config{
			RootCAs:      roots,
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
		},
	}
	return &Client{
		base:    c.Server + "/api/v1",
		http:    &http.Client{Transport: tr, Timeout: timeout},
		timeout: timeout,
		closeFn: func() error { tr.CloseIdleConnections(); return closeFn() },
	}, nil
}

// Close releases the connections and the card.
func (c *Client) Close() error { return c.closeFn() }

func loadRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("ca_bundle: %w", err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("ca_bundle %s holds no PEM certificate (it must be the management CA's certificate)", path))
	}
	return pool, nil
}

// do sends one call and decodes the answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return errkind.Wrap(errkind.Invalid, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already named by Unreachable
		}
		return &Unreachable{Server: c.base, Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return &Unreachable{Server: c.base, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return refusal(resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: the server's answer is not the expected JSON: %w", method, path, err)
	}
	return nil
}

// refusal decodes the API's one error shape; anything else (a proxy's
// page) still becomes a Refused naming the status.
func refusal(status int, b []byte) error {
	var env struct {
		Error *Refused `json:"error"`
	}
	if json.Unmarshal(b, &env) == nil && env.Error != nil {
		env.Error.Status = status
		return env.Error
	}
	msg := http.StatusText(status)
	if s := bytes.TrimSpace(b); len(s) > 0 {
		if len(s) > 200 {
			s = s[:200]
		}
		msg += ": " + string(s)
	}
	kind := "internal"
	switch {
	case status == http.StatusRequestEntityTooLarge || status/100 == 4:
		kind = "invalid"
	case status == http.StatusServiceUnavailable:
		kind = "unavailable"
	}
	return &Refused{Status: status, Kind: kind, Message: msg}
}

func esc(s string) string { return url.PathEscape(s) }

// Whoami returns the officer the server sees.
func (c *Client) Whoami(ctx context.Context) (Officer, error) {
	var o Officer
	return o, c.do(ctx, http.MethodGet, "/whoami", nil, nil, &o)
}

// CreateSubscriber registers a subscriber.
func (c *Client) CreateSubscriber(ctx context.Context, in SubscriberInput) (Subscriber, error) {
	var s Subscriber
	return s, c.do(ctx, http.MethodPost, "/subscribers", nil, in, &s)
}

// Subscriber returns one subscriber.
func (c *Client) Subscriber(ctx context.Context, id string) (Subscriber, error) {
	var s Subscriber
	return s, c.do(ctx, http.MethodGet, "/subscribers/"+esc(id), nil, nil, &s)
}

// SearchSubscribers finds subscribers whose names or numbers hold text.
func (c *Client) SearchSubscribers(ctx context.Context, text string) ([]Subscriber, error) {
	var r struct {
		Subscribers []Subscriber `json:"subscribers"`
	}
	return r.Subscribers, c.do(ctx, http.MethodGet, "/subscribers", url.Values{"q": {text}}, nil, &r)
}

// SubmitRequest submits a certificate request.
func (c *Client) SubmitRequest(ctx context.Context, in RequestInput) (Request, error) {
	var r Request
	return r, c.do(ctx, http.MethodPost, "/requests", nil, in, &r)
}

// Request returns one request.
func (c *Client) Request(ctx context.Context, id string) (Request, error) {
	var r Request
	return r, c.do(ctx, http.MethodGet, "/requests/"+esc(id), nil, nil, &r)
}

// ListRequests lists requests, filtered by status and subscriber when given.
func (c *Client) ListRequests(ctx context.Context, status, subscriber string) ([]Request, error) {
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	if subscriber != "" {
		q.Set("subscriber", subscriber)
	}
	var r struct {
		Requests []Request `json:"requests"`
	}
	return r.Requests, c.do(ctx, http.MethodGet, "/requests", q, nil, &r)
}

// Approve approves a request; the server issues and returns the certificate.
func (c *Client) Approve(ctx context.Context, id string) (Request, error) {
	var r Request
	return r, c.do(ctx, http.MethodPost, "/requests/"+esc(id)+"/approve", nil, struct{}{}, &r)
}

// Reject rejects a request with a reason.
func (c *Client) Reject(ctx context.Context, id, reason string) (Request, error) {
	var r Request
	return r, c.do(ctx, http.MethodPost, "/requests/"+esc(id)+"/reject", nil, map[string]string{"reason": reason}, &r)
}

// Certificate returns one certificate by serial (hex, as FormatSerial).
func (c *Client) Certificate(ctx context.Context, serial string) (Certificate, error) {
	var r Certificate
	return r, c.do(ctx, http.MethodGet, "/certificates/"+esc(serial), nil, nil, &r)
}

// ListCertificates lists a subscriber's certificates.
func (c *Client) ListCertificates(ctx context.Context, subscriber string) ([]Certificate, error) {
	var r struct {
		Certificates []Certificate `json:"certificates"`
	}
	return r.Certificates, c.do(ctx, http.MethodGet, "/certificates", url.Values{"subscriber": {subscriber}}, nil, &r)
}

// Revoke revokes a certificate; compromise is the invalidity date, if known.
func (c *Client) Revoke(ctx context.Context, serial, reason string, compromise time.Time) (Certificate, error) {
	body := map[string]string{"reason": reason}
	if !compromise.IsZero() {
		body["compromise_time"] = compromise.UTC().Format(time.RFC3339)
	}
	var r Certificate
	return r, c.do(ctx, http.MethodPost, "/certificates/"+esc(serial)+"/revoke", nil, body, &r)
}

// Suspend puts a certificate on hold; passphrase is the subscriber's
// revocation passphrase when the subscriber calls in (may be empty).
func (c *Client) Suspend(ctx context.Context, serial, passphrase string) (Certificate, error) {
	body := map[string]string{}
	if passphrase != "" {
		body["passphrase"] = passphrase
	}
	var r Certificate
	return r, c.do(ctx, http.MethodPost, "/certificates/"+esc(serial)+"/suspend", nil, body, &r)
}

// Resume takes a certificate off hold.
func (c *Client) Resume(ctx context.Context, serial string) (Certificate, error) {
	var r Certificate
	return r, c.do(ctx, http.MethodPost, "/certificates/"+esc(serial)+"/resume", nil, struct{}{}, &r)
}

// CreateOfficer creates an officer from a CSR; the answer holds the certificate.
func (c *Client) CreateOfficer(ctx context.Context, in OfficerInput) (Officer, error) {
	var o Officer
	return o, c.do(ctx, http.MethodPost, "/officers", nil, in, &o)
}

// ListOfficers lists the officers.
func (c *Client) ListOfficers(ctx context.Context) ([]Officer, error) {
	var r struct {
		Officers []Officer `json:"officers"`
	}
	return r.Officers, c.do(ctx, http.MethodGet, "/officers", nil, nil, &r)
}

// DeactivateOfficer deactivates an officer at once.
func (c *Client) DeactivateOfficer(ctx context.Context, id string) (Officer, error) {
	var o Officer
	return o, c.do(ctx, http.MethodPost, "/officers/"+esc(id)+"/deactivate", nil, struct{}{}, &o)
}

// Audit returns one page of audit records after afterSeq (and since, when
// not zero); limit 0 leaves the page size to the server.
func (c *Client) Audit(ctx context.Context, since time.Time, afterSeq int64, limit int) (AuditPage, error) {
	q := url.Values{}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339))
	}
	if afterSeq > 0 {
		q.Set("after_seq", strconv.FormatInt(afterSeq, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var p AuditPage
	return p, c.do(ctx, http.MethodGet, "/audit", q, nil, &p)
}

// VerifyAudit asks the server to check the audit chain.
func (c *Client) VerifyAudit(ctx context.Context) (AuditReport, error) {
	var r AuditReport
	return r, c.do(ctx, http.MethodGet, "/audit/verify", nil, nil, &r)
}
