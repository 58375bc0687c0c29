package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/muhr-pki/muhr/store"
)

// fail maps an error from a dependency to a status and a short plain-text
// reason. It is the one place where error kinds become HTTP statuses; the
// underlying error of a 5xx is logged, never sent.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, notFound string, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		http.Error(w, notFound, http.StatusNotFound)
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		s.log.WarnContext(r.Context(), "dependency unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "temporarily unavailable, try later", http.StatusServiceUnavailable)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads this answer.
		http.Error(w, "request cancelled", http.StatusServiceUnavailable)
	default:
		s.internalError(w, r, err)
	}
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

func tooLarge(w http.ResponseWriter, limit int64) {
	http.Error(w, fmt.Sprintf("request body over %d bytes", limit), http.StatusRequestEntityTooLarge)
}

// ReadBody reads a request body for a handler mounted with Server.Handle.
// On failure it has already answered (413 over the body limit, 400 for a
// broken body) and returns ok=false; the handler just returns.
func ReadBody(w http.ResponseWriter, r *http.Request) (body []byte, ok bool) {
	b, err := io.ReadAll(r.Body)
	if err == nil {
		return b, true
	}
	if mbe, isLimit := errors.AsType[*http.MaxBytesError](err); isLimit {
		tooLarge(w, mbe.Limit)
		return nil, false
	}
	http.Error(w, "cannot read request body", http.StatusBadRequest)
	return nil, false
}
