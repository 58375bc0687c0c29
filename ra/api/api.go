// Package api is the officer API of API.md over HTTPS with client
// certificates: JSON in and out, the officer found from the certificate on
// every request, every call passed to ra.Service (which authorizes and
// audits it). Request bodies are at most 1 MiB and decoded strictly.
package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/httpx"
	"github.com/muhr-pki/muhr/ra"
	"github.com/muhr-pki/muhr/store"
)

// MaxBody is the largest request body (413 above it).
const MaxBody = 1 << 20

// Prefix is where the API is mounted.
const Prefix = "/api/v1"

// Handler serves the officer API.
type Handler struct {
	svc *ra.Service
	log *slog.Logger
	mux *http.ServeMux
}

// New returns the API handler on svc.
func New(svc *ra.Service, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{svc: svc, log: log, mux: http.NewServeMux()}
	h.routes()
	return h
}

type officerFunc func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error)

func (h *Handler) handle(pattern string, f officerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	h.mux.HandleFunc(method+" "+Prefix+path, func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			// The listener refuses such clients in the handshake; this
			// guards a handler mounted without it.
			_ = h.svc.Refused(r.Context(), nil, r.RemoteAddr, "no client certificate")
			h.fail(w, r, &ra.Error{Kind: errkind.Forbidden, Msg: "forbidden: a client certificate of an officer is required"})
			return
		}
		who, err := h.svc.Authenticate(r.Context(), r.TLS.PeerCertificates[0], r.RemoteAddr)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		code, v, err := f(w, r, who)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, code, v)
	})
}

// ServeHTTP limits the body and routes; an unknown path is a JSON 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > MaxBody {
		tooLarge(w)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	if _, pattern := h.mux.Handler(r); pattern == "" {
		writeErr(w, http.StatusNotFound, errBody{Kind: "not_found", Message: fmt.Sprintf("no such endpoint: %s %s (see API.md)", r.Method, r.URL.Path)})
		return
	}
	h.mux.ServeHTTP(w, r)
}

type errBody struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	State   string `json:"state,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":{"kind":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func writeErr(w http.ResponseWriter, code int, e errBody) {
	writeJSON(w, code, map[string]errBody{"error": e})
}

func tooLarge(w http.ResponseWriter) {
	writeErr(w, http.StatusRequestEntityTooLarge, errBody{Kind: "invalid",
		Message: fmt.Sprintf("request body over %d bytes (1 MiB); send a smaller scan or CSR", MaxBody)})
}

// fail writes err in the one error shape; 5xx messages stay generic and
// the cause goes to the log.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		tooLarge(w)
		return
	}
	k := errkind.Of(err)
	code := httpx.Status(k)
	field, state := ra.Details(err)
	msg := err.Error()
	if code >= 500 {
		h.log.ErrorContext(r.Context(), "officer api", "method", r.Method, "path", r.URL.Path, "err", err.Error())
		if k == errkind.Unavailable {
			w.Header().Set("Retry-After", httpx.RetryAfter)
			var re *ra.Error
			if !errors.As(err, &re) {
				msg = "temporarily unavailable (database or HSM); try again shortly"
			}
		} else {
			msg = "internal error; the server log has the details (request " + httpx.RequestID(r.Context()) + ")"
		}
	}
	writeErr(w, code, errBody{Kind: k.String(), Message: msg, Field: field, State: state})
}

// decode reads the body into v strictly: unknown fields, trailing data and
// wrong types are refused naming the field. An empty body is {}.
func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return &ra.Error{Kind: errkind.Invalid, Field: te.Field, Msg: fmt.Sprintf("%s: expected %s, got JSON %s", te.Field, te.Type, te.Value)}
		case errors.As(err, &se):
			return &ra.Error{Kind: errkind.Invalid, Msg: fmt.Sprintf("body is not JSON: %v (at byte %d)", err, se.Offset)}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return &ra.Error{Kind: errkind.Invalid, Field: name, Msg: fmt.Sprintf("unknown field %q (see API.md for the fields)", name)}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return &ra.Error{Kind: errkind.Invalid, Msg: "body is truncated JSON"}
		}
		var tErr *time.ParseError
		if errors.As(err, &tErr) {
			return &ra.Error{Kind: errkind.Invalid, Msg: "a time is not RFC 3339 (2026-01-02T15:04:05Z): " + err.Error()}
		}
		return &ra.Error{Kind: errkind.Invalid, Msg: "body: " + err.Error()}
	}
	if dec.More() {
		return &ra.Error{Kind: errkind.Invalid, Msg: "body: data after the JSON object"}
	}
	return nil
}

func intParam(r *http.Request, name string) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, &ra.Error{Kind: errkind.Invalid, Field: name, Msg: fmt.Sprintf("%s: %q is not a number", name, s)}
	}
	return n, nil
}

type empty struct{}

func (h *Handler) routes() {
	h.handle("GET /whoami", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		v, err := h.svc.Whoami(r.Context(), who)
		return 200, v, err
	})
	h.handle("POST /subscribers", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		var in ra.SubscriberInput
		if err := decode(r, &in); err != nil {
			return 0, nil, err
		}
		v, err := h.svc.RegisterSubscriber(r.Context(), who, in)
		return 201, v, err
	})
	h.handle("GET /subscribers/{id}", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		v, err := h.svc.GetSubscriber(r.Context(), who, r.PathValue("id"))
		return 200, v, err
	})
	h.handle("GET /subscribers", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		v, err := h.svc.SearchSubscribers(r.Context(), who, r.URL.Query().Get("q"))
		return 200, map[string]any{"subscribers": v}, err
	})
	h.handle("POST /requests", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		var in ra.RequestInput
		if err := decode(r, &in); err != nil {
			return 0, nil, err
		}
		v, err := h.svc.Submit(r.Context(), who, in)
		return 201, v, err
	})
	h.handle("GET /requests/{id}", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		v, err := h.svc.GetRequest(r.Context(), who, r.PathValue("id"))
		return 200, v, err
	})
	h.handle("GET /requests", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		q := r.URL.Query()
		v, err := h.svc.ListRequests(r.Context(), who, q.Get("status"), q.Get("subscriber"))
		return 200, map[string]any{"requests": v}, err
	})
	h.handle("POST /requests/{id}/approve", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		var in empty
		if err := decode(r, &in); err != nil {
			return 0, nil, err
		}
		v, err := h.svc.Approve(r.Context(), who, r.PathValue("id"))
		return 200, v, err
	})
	h.handle("POST /requests/{id}/reject", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		var in struct {
			Reason string `json:"reason"`
		}
		if err := decode(r, &in); err != nil {
			return 0, nil, err
		}
		v, err := h.svc.Reject(r.Context(), who, r.PathValue("id"), in.Reason)
		return 200, v, err
	})
	h.handle("GET /certificates/{serial}", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		v, err := h.svc.GetCertificate(r.Context(), who, r.PathValue("serial"))
		return 200, v, err
	})
	h.handle("GET /certificates", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		v, err := h.svc.ListCertificates(r.Context(), who, r.URL.Query().Get("subscriber"))
		return 200, map[string]any{"certificates": v}, err
	})
	h.handle("POST /certificates/{serial}/revoke", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		var in struct {
			Reason         string     `json:"reason"`
			CompromiseTime *time.Time `json:"compromise_time"`
		}
		if err := decode(r, &in); err != nil {
			return 0, nil, err
		}
		v, err := h.svc.Revoke(r.Context(), who, r.PathValue("serial"), in.Reason, in.CompromiseTime)
		return 200, v, err
	})
	h.handle("POST /certificates/{serial}/suspend", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		var in struct {
			Passphrase string `json:"passphrase"`
		}
		if err := decode(r, &in); err != nil {
			return 0, nil, err
		}
		v, err := h.svc.Suspend(r.Context(), who, r.PathValue("serial"), in.Passphrase)
		return 200, v, err
	})
	h.handle("POST /certificates/{serial}/resume", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		var in empty
		if err := decode(r, &in); err != nil {
			return 0, nil, err
		}
		v, err := h.svc.Resume(r.Context(), who, r.PathValue("serial"))
		return 200, v, err
	})
	h.handle("POST /officers", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		var in ra.OfficerInput
		if err := decode(r, &in); err != nil {
			return 0, nil, err
		}
		v, err := h.svc.AddOfficer(r.Context(), who, in)
		return 201, v, err
	})
	h.handle("GET /officers", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		v, err := h.svc.ListOfficers(r.Context(), who)
		return 200, map[string]any{"officers": v}, err
	})
	h.handle("POST /officers/{id}/deactivate", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		var in empty
		if err := decode(r, &in); err != nil {
			return 0, nil, err
		}
		v, err := h.svc.DeactivateOfficer(r.Context(), who, r.PathValue("id"))
		return 200, v, err
	})
	h.handle("GET /audit", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		var since time.Time
		if s := r.URL.Query().Get("since"); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return 0, nil, &ra.Error{Kind: errkind.Invalid, Field: "since", Msg: fmt.Sprintf("since: %q is not RFC 3339 (2026-01-02T15:04:05Z)", s)}
			}
			since = t
		}
		limit, err := intParam(r, "limit")
		if err != nil {
			return 0, nil, err
		}
		after, err := intParam(r, "after_seq")
		if err != nil {
			return 0, nil, err
		}
		v, err := h.svc.Audit(r.Context(), who, since, after, int(limit))
		return 200, v, err
	})
	h.handle("GET /audit/verify", func(w http.ResponseWriter, r *http.Request, who store.Officer) (int, any, error) {
		v, err := h.svc.VerifyAudit(r.Context(), who)
		return 200, v, err
	})
}
