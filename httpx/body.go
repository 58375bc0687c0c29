package httpx

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ReadBody reads a request body under the limits set by Wrap (and any
// http.MaxBytesReader the handler added). On failure it has already
// answered (413 over a limit, 400 for a broken body) and returns ok=false;
// the handler just returns.
func ReadBody(w http.ResponseWriter, r *http.Request) (body []byte, ok bool) {
	b, err := io.ReadAll(r.Body)
	if err == nil {
		return b, true
	}
	if mbe, isLimit := errors.AsType[*http.MaxBytesError](err); isLimit {
		TooLarge(w, mbe.Limit)
		return nil, false
	}
	http.Error(w, "cannot read request body", http.StatusBadRequest)
	return nil, false
}

// TooLarge answers 413 naming the limit.
func TooLarge(w http.ResponseWriter, limit int64) {
	http.Error(w, fmt.Sprintf("request body over %d bytes", limit), http.StatusRequestEntityTooLarge)
}
