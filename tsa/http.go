package tsa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/muhr-pki/muhr/httpx"
)

// Media types of RFC 3161 section 3.4.
const (
	QueryType = "application/timestamp-query"
	ReplyType = "application/timestamp-reply"
)

// MaxRequestBytes caps a request body whatever the server-wide limit is: a
// TimeStampReq with a SHA-512 imprint and a 1 KiB nonce is far below it.
const MaxRequestBytes = 64 << 10

// ServeHTTP answers POST /tsa. A body that is not a time-stamp query at the
// HTTP level gets an HTTP error (415, 413); everything else gets 200 with a
// TimeStampResp, whose status says granted or why not.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST a DER TimeStampReq", http.StatusMethodNotAllowed)
		return
	}
	if !isQuery(r.Header.Get("Content-Type")) {
		http.Error(w, "Content-Type must be "+QueryType, http.StatusUnsupportedMediaType)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
	body, ok := httpx.ReadBody(w, r)
	if !ok {
		return
	}
	resp := s.Respond(r.Context(), body, r.RemoteAddr)
	// The three values in one allocation rather than one per Header.Set.
	v := []string{ReplyType, strconv.Itoa(len(resp)), "no-store"}
	h := w.Header()
	h["Content-Type"], h["Content-Length"], h["Cache-Control"] = v[0:1:1], v[1:2:2], v[2:3:3]
	_, _ = w.Write(resp)
}

// isQuery reports whether a Content-Type is QueryType; the exact string
// every client sends skips parsing (mime.ParseMediaType builds a map).
func isQuery(ct string) bool {
	if ct == QueryType {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == QueryType
}

// Health reports nil when the TSA can issue a token now: the clock is
// trusted and the unit certificate is valid.
func (s *Server) Health(ctx context.Context) error {
	now, err := s.clock.Now(ctx)
	if err != nil {
		return err
	}
	if now.Before(s.unit.Cert.NotBefore) || now.After(s.unit.Cert.NotAfter) {
		return fmt.Errorf("%w: TSA unit certificate not valid at %s", ErrUnit, now.UTC().Format(time.RFC3339))
	}
	return nil
}

// Reason codes of a failed Health, the only failure text the public
// health endpoints show (the error itself goes to the log).
const (
	ReasonClockUntrusted = "clock_untrusted"
	ReasonUnitInvalid    = "tsa_unit_invalid"
)

// HealthReason is the public reason code of an error from Health.
func HealthReason(err error) string {
	if errors.Is(err, ErrUnit) {
		return ReasonUnitInvalid
	}
	return ReasonClockUntrusted
}

// HealthHandler answers GET /tsa/healthz: 200 {"status":"ok"} or 503
// {"status":"degraded","reason":<code>} while tokens would be refused.
func (s *Server) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := struct {
			Status string `json:"status"`
			Reason string `json:"reason,omitempty"`
		}{Status: "ok"}
		code := http.StatusOK
		if err := s.Health(r.Context()); err != nil {
			body.Status, body.Reason, code = "degraded", HealthReason(err), http.StatusServiceUnavailable
		}
		b, _ := json.Marshal(body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_, _ = w.Write(append(b, '\n'))
	})
}
