package verify

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"time"
)

// HandlerOptions bound what one client can make the validation service do.
type HandlerOptions struct {
	MaxUploadBytes int64
	Timeout        time.Duration
	MaxConcurrent  int
	// Queue is how long a request waits for a free slot before 503.
	Queue time.Duration
	// MinUploadRate (bytes/s, default 64 KiB/s) is the slowest a body may
	// arrive on average once UploadGrace (default 10 s) has passed; slower
	// gets 408. The body is read while holding a slot (that bounds the
	// memory uploads take), so a client trickling bytes must not keep a
	// slot for the whole upload timeout.
	MinUploadRate int64
	UploadGrace   time.Duration
	Log           *slog.Logger
}

// Handler is POST /api/v1/validate: multipart/form-data with a part
// "signature" (and "content" for a detached one), or a part
// "certificate" (with optional "chain" parts); the answer is the JSON
// report, or the ETSI TS 119 102-2 XML with ?format=etsi; ?at=RFC3339 sets
// the validation time (default now). The verdict is
// in the report; HTTP errors are for requests that are not validation
// requests (400), too large (413) or arriving while every slot is busy
// (503).
type Handler struct {
	v    *Validator
	o    HandlerOptions
	slot chan struct{}
}

// NewHandler serves validations with v.
func NewHandler(v *Validator, o HandlerOptions) *Handler {
	if o.MaxUploadBytes <= 0 {
		o.MaxUploadBytes = 16 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 8
	}
	if o.Queue <= 0 {
		o.Queue = 2 * time.Second
	}
	if o.MinUploadRate <= 0 {
		o.MinUploadRate = 64 << 10
	}
	if o.UploadGrace <= 0 {
		o.UploadGrace = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Handler{v: v, o: o, slot: make(chan struct{}, o.MaxConcurrent)}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "etsi" {
		http.Error(w, "format must be json or etsi", http.StatusBadRequest)
		return
	}
	at := h.v.clock()
	if q := r.URL.Query().Get("at"); q != "" {
		t, err := time.Parse(time.RFC3339, q)
		if err != nil {
			http.Error(w, "at must be an RFC 3339 time such as 2026-12-07T10:00:00Z", http.StatusBadRequest)
			return
		}
		at = t
	}
	if r.ContentLength > h.o.MaxUploadBytes {
		tooLarge(w, h.o.MaxUploadBytes)
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		http.Error(w, "Content-Type must be multipart/form-data with a part signature (and content), or certificate", http.StatusUnsupportedMediaType)
		return
	}
	// Wait for a slot only briefly: a queue that grows without end is a
	// denial of service with extra steps.
	wait := time.NewTimer(h.o.Queue)
	select {
	case h.slot <- struct{}{}:
		wait.Stop()
	case <-wait.C:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "every validation slot is busy; try again", http.StatusServiceUnavailable)
		return
	case <-r.Context().Done():
		wait.Stop()
		return
	}
	defer func() { <-h.slot }()
	r.Body = http.MaxBytesReader(w, &rateReader{r: r.Body, min: h.o.MinUploadRate, grace: h.o.UploadGrace,
		start: time.Now()}, h.o.MaxUploadBytes)
	parts, err := readParts(r)
	if err != nil {
		if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
			tooLarge(w, mbe.Limit)
			return
		}
		if errors.Is(err, errTooSlow) || errors.Is(err, os.ErrDeadlineExceeded) {
			// Closing: net/http would otherwise read on the rest of
			// the slow body before it sends this.
			w.Header().Set("Connection", "close")
			http.Error(w, err.Error(), http.StatusRequestTimeout)
			return
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// The validation's own time starts once the upload is in: a document
	// that took a minute to arrive still gets all of Timeout.
	ctx, cancel := context.WithTimeout(r.Context(), h.o.Timeout)
	defer cancel()
	var rep *Report
	switch {
	case parts["signature"] != nil && parts["certificate"] != nil:
		http.Error(w, "send either a signature or a certificate, not both", http.StatusBadRequest)
		return
	case parts["signature"] != nil:
		chain, err := chainOf(parts)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var content []byte
		if c := parts["content"]; c != nil {
			content = c[0]
		}
		rep = h.v.SignatureAt(ctx, unPEMSignature(parts["signature"][0]), content, chain, at)
	case parts["certificate"] != nil:
		if format == "etsi" {
			http.Error(w, "the ETSI TS 119 102-2 report is for signatures; ask for JSON", http.StatusBadRequest)
			return
		}
		certs, err := ParseCertificates(parts["certificate"][0])
		if err != nil {
			http.Error(w, "certificate: "+err.Error(), http.StatusBadRequest)
			return
		}
		chain, err := chainOf(parts)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		cr := h.v.Certificate(ctx, certs[0], append(certs[1:], chain...), at, false, UsageAny)
		rep = &Report{Status: cr.Status, ValidationTime: at.UTC(), Certificate: cr}
	default:
		http.Error(w, "no part named signature or certificate", http.StatusBadRequest)
		return
	}
	if format == "etsi" {
		b, err := ETSIReport(rep)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.Write(b)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		h.o.Log.Debug("validate: write report", "err", err.Error())
	}
}

// chainOf parses the "chain" parts.
func chainOf(parts map[string][][]byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, b := range parts["chain"] {
		cs, err := ParseCertificates(b)
		if err != nil {
			return nil, fmt.Errorf("chain: %w", err)
		}
		out = append(out, cs...)
	}
	return out, nil
}

// unPEMSignature decodes a PEM PKCS7/CMS block; anything else is returned
// as it came.
func unPEMSignature(b []byte) []byte {
	if blk, _ := pem.Decode(b); blk != nil && (blk.Type == "PKCS7" || blk.Type == "CMS") {
		return blk.Bytes
	}
	return b
}

func tooLarge(w http.ResponseWriter, limit int64) {
	http.Error(w, fmt.Sprintf("request body over %d bytes", limit), http.StatusRequestEntityTooLarge)
}

var errTooSlow = errors.New("upload too slow")

// rateReader fails a body arriving slower than min bytes/s on average,
// once grace has passed since start. A body that stops altogether is the
// read deadline's (validate.upload_timeout).
type rateReader struct {
	r     io.ReadCloser
	min   int64
	grace time.Duration
	start time.Time
	n     int64
}

func (rr *rateReader) Read(b []byte) (int, error) {
	k, err := rr.r.Read(b)
	rr.n += int64(k)
	if el := time.Since(rr.start); el > rr.grace && float64(rr.n) < float64(rr.min)*el.Seconds() {
		return k, fmt.Errorf("%w: %d bytes in %v, under %d bytes/s", errTooSlow, rr.n, el.Round(time.Millisecond), rr.min)
	}
	return k, err
}

func (rr *rateReader) Close() error { return rr.r.Close() }

// readParts reads the multipart parts the service knows, each once
// ("chain" may repeat), refusing any other.
func readParts(r *http.Request) (map[string][][]byte, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("not a multipart body: %w", err)
	}
	out := map[string][][]byte{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("multipart body: %w", err)
		}
		name := p.FormName()
		switch name {
		case "signature", "content", "certificate":
			if out[name] != nil {
				return nil, fmt.Errorf("part %q sent twice", name)
			}
		case "chain":
		default:
			return nil, fmt.Errorf("unknown part %q (signature, content, certificate, chain)", name)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, err
		}
		out[name] = append(out[name], b)
	}
}
