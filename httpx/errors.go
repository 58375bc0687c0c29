package httpx

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/muhr-pki/muhr/errkind"
)

// Status is the HTTP status of an error kind: the one place where kinds
// become statuses.
func Status(k errkind.Kind) int {
	switch k {
	case errkind.Invalid:
		return http.StatusBadRequest
	case errkind.Forbidden:
		return http.StatusForbidden
	case errkind.NotFound:
		return http.StatusNotFound
	case errkind.Conflict:
		return http.StatusConflict
	case errkind.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// genericText is what a client reads when the handler gave no text.
func genericText(k errkind.Kind) string {
	switch k {
	case errkind.Invalid:
		return "invalid request"
	case errkind.Forbidden:
		return "forbidden"
	case errkind.NotFound:
		return "not found"
	case errkind.Conflict:
		return "conflict with the current state"
	case errkind.Unavailable:
		return "temporarily unavailable, try later"
	}
	return "internal error"
}

// RetryAfter is the Retry-After a 503 carries, in seconds.
const RetryAfter = "5"

// Fail answers a request that failed with err, by err's kind. public is the
// text a client may read for a 4xx answer (say what was wrong with the
// request, e.g. "unknown CA x"); empty uses a generic text. A 5xx answer
// never carries detail: the error goes to log with the request id, so the
// database host or a file path stays inside.
func Fail(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error, public string) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away; nobody reads this answer.
		http.Error(w, "request cancelled", http.StatusServiceUnavailable)
		return
	}
	k := errkind.Of(err)
	code := Status(k)
	if code < 500 {
		if public == "" {
			public = genericText(k)
		}
		http.Error(w, public, code)
		return
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "request_id", RequestID(r.Context()), "err", err.Error()}
	if k == errkind.Unavailable {
		if log != nil {
			log.WarnContext(r.Context(), "dependency unavailable", attrs...)
		}
		w.Header().Set("Retry-After", RetryAfter)
	} else if log != nil {
		log.ErrorContext(r.Context(), "internal error", attrs...)
	}
	http.Error(w, genericText(k), code)
}
