package ocsp

import (
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/muhr-pki/muhr/httpx"
)

// GETPrefix is the raw-path route of GET requests: /ocsp/<base64>.
const GETPrefix = "/ocsp/"

// Responder is the http.Handler of POST /ocsp and GET /ocsp/<base64>
// (RFC 6960 appendix A, RFC 5019). Failures of the request or of ours are
// OCSP error responses with HTTP 200, as clients expect; only a body over
// MaxRequestBytes (413) and a wrong content type (415) are HTTP errors.
type Responder struct {
	src   Source
	log   *slog.Logger
	clock func() time.Time
	// memo remembers the parse of small requests by their bytes: relying
	// parties ask the same question in the same bytes over and over, and
	// parsing is most of a cached answer's CPU. Bounded; cleared when full.
	memoMu sync.RWMutex
	memo   map[string]*Request
}

// Memo bounds: requests up to memoMaxBytes (one CertID without a nonce is
// about 70–120 bytes) and memoEntries of them, under 20 MiB.
const (
	memoMaxBytes = 160
	memoEntries  = 1 << 16
)

// parse is ParseRequest with the memo: only single-CertID requests
// without a nonce (the cacheable ones) are remembered. The Request is
// shared and must not be changed.
func (rs *Responder) parse(der []byte) (*Request, error) {
	if len(der) <= memoMaxBytes {
		rs.memoMu.RLock()
		r := rs.memo[string(der)]
		rs.memoMu.RUnlock()
		if r != nil {
			return r, nil
		}
	}
	r, err := ParseRequest(der)
	if err != nil || len(der) > memoMaxBytes || len(r.CertIDs) != 1 || r.Nonce != nil {
		return r, err
	}
	rs.memoMu.Lock()
	if len(rs.memo) >= memoEntries {
		clear(rs.memo)
	}
	rs.memo[string(der)] = r
	rs.memoMu.Unlock()
	return r, nil
}

// NewResponder serves answers from src.
func NewResponder(src Source, log *slog.Logger) *Responder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Responder{src: src, log: log, clock: time.Now, memo: map[string]*Request{}}
}

// getHeaders are a cached answer's formatted header values, made once.
type getHeaders struct {
	lastModified, expires, length string
	maxAge                        atomic.Pointer[maxAge]
}

// maxAge is the Cache-Control value for one second.
type maxAge struct {
	unix int64
	v    string
}

func (c *Cached) headers() *getHeaders {
	if h := c.hdr.Load(); h != nil {
		return h
	}
	h := &getHeaders{
		lastModified: c.ThisUpdate.UTC().Format(http.TimeFormat),
		expires:      c.NextUpdate.UTC().Format(http.TimeFormat),
		length:       strconv.Itoa(len(c.DER)),
	}
	c.hdr.CompareAndSwap(nil, h)
	return c.hdr.Load()
}

// cacheControl is RFC 5019 §6.2's Cache-Control at now: max-age counts
// down to nextUpdate.
func (h *getHeaders) cacheControl(next, now time.Time) string {
	sec := now.Unix()
	if m := h.maxAge.Load(); m != nil && m.unix == sec {
		return m.v
	}
	age := max(int64(next.Sub(now)/time.Second), 0)
	m := &maxAge{unix: sec, v: "max-age=" + strconv.FormatInt(age, 10) + ", public, no-transform, must-revalidate"}
	h.maxAge.Store(m)
	return m.v
}

func (rs *Responder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var der []byte
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		var ok bool
		if der, ok = decodeGET(httpx.RawTail(r, GETPrefix)); !ok {
			rs.fail(w, MalformedRequest)
			return
		}
	case http.MethodPost:
		if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/ocsp-request" {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/ocsp-request" {
				http.Error(w, "Content-Type must be application/ocsp-request", http.StatusUnsupportedMediaType)
				return
			}
		}
		b, err := readRequest(w, r)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request over 64 KiB", http.StatusRequestEntityTooLarge)
			return
		}
		if err != nil {
			rs.fail(w, MalformedRequest)
			return
		}
		der = b
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	req, err := rs.parse(der)
	if err != nil {
		rs.log.Debug("ocsp: malformed request", "err", err.Error())
		rs.fail(w, MalformedRequest)
		return
	}
	// One CertID and no nonce: the pre-signed answer, cacheable on GET.
	if len(req.CertIDs) == 1 && req.Nonce == nil {
		c, err := rs.src.Response(r.Context(), req.CertIDs[0])
		if err != nil {
			rs.failErr(w, err)
			return
		}
		h := w.Header()
		gh := c.headers()
		// The header values are made once per answer (and per second for
		// max-age) and assigned under their canonical keys from one
		// per-request array: this is the center's hottest path, and
		// formatting and canonicalising six headers per request was half
		// of the responder's time. Each request gets its own slices, so
		// whatever later changes one answer's header cannot reach another.
		v := make([]string, 0, 6)
		set := func(k, s string) { v = append(v, s); h[k] = v[len(v)-1 : len(v) : len(v)] }
		if r.Method != http.MethodPost {
			set("Cache-Control", gh.cacheControl(c.NextUpdate, rs.clock()))
			set("Last-Modified", gh.lastModified)
			set("Expires", gh.expires)
			set("Etag", c.ETag)
			if inm := r.Header.Get("If-None-Match"); inm != "" && inm == c.ETag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		} else {
			set("Cache-Control", "no-cache")
		}
		set("Content-Type", "application/ocsp-response")
		set("Content-Length", gh.length)
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(c.DER)
		}
		return
	}
	b, err := rs.src.Sign(r.Context(), req)
	if err != nil {
		rs.failErr(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	rs.write(w, r, b)
}

func (rs *Responder) write(w http.ResponseWriter, r *http.Request, der []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/ocsp-response")
	h.Set("Content-Length", strconv.Itoa(len(der)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(der)
	}
}

func (rs *Responder) failErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrUnauthorized):
		rs.fail(w, Unauthorized)
	case errors.Is(err, ErrUnavailable):
		rs.log.Warn("ocsp: try later", "err", err.Error())
		rs.fail(w, TryLater)
	default:
		rs.log.Error("ocsp: internal error", "err", err.Error())
		rs.fail(w, InternalError)
	}
}

func (rs *Responder) fail(w http.ResponseWriter, s ResponseStatus) {
	b := ErrorResponse(s)
	h := w.Header()
	h.Set("Content-Type", "application/ocsp-response")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// readRequest reads a POST body of at most MaxRequestBytes: one read into
// a buffer of the declared length (what every OCSP client sends), else,
// for a chunked body, up to the limit.
func readRequest(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n > MaxRequestBytes {
		return nil, &http.MaxBytesError{Limit: MaxRequestBytes}
	} else if n >= 0 {
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
}

// decodeGET reads the base64 of a GET path: the path is percent-decoded
// once already (so %2B, %2F, %3D arrive as + / =); padding may be missing.
// A leading "/" (clients joining a URL ending in "/" with one more) is
// dropped, since base64 of a DER SEQUENCE never starts with "/".
func decodeGET(s string) ([]byte, bool) {
	s = strings.TrimPrefix(s, "/")
	s = strings.TrimRight(s, "=")
	if s == "" || len(s) > base64.RawStdEncoding.EncodedLen(MaxRequestBytes) {
		return nil, false
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	return b, err == nil
}
