package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"
)

// DefaultSlowRequest is the duration from which a request is logged at
// info even when it succeeded.
const DefaultSlowRequest = time.Second

// Options configures Wrap.
type Options struct {
	// Listener names the listener ("public", "ops") in metrics and logs.
	Listener string
	Logger   *slog.Logger // nil discards
	Metrics  *Metrics     // nil records none
	// MaxBodyBytes caps every request body whose route declares no cap of
	// its own (MaxBody; the wrapped handler tells through BodyLimiter); 0
	// means no cap.
	MaxBodyBytes int64
	// SlowRequest: a request taking this long or longer is logged at info
	// (default DefaultSlowRequest; negative never).
	SlowRequest time.Duration
}

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// RequestID returns the id Wrap gave the request ("" outside Wrap).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Wrap is the middleware every route goes through, outermost first: a
// request id (the client's X-Request-Id when it is short and plain, else a
// new one; echoed in the answer and in every log line of the request), a
// body limit (the route's own, else MaxBodyBytes), a panic guard that answers 500, metrics, and the access log.
//
// The access log is built for a hot path: a request that succeeded
// quickly is logged at debug (and its attributes are not even built when
// debug is off), a 5xx at warn, a slow request at info. So a TSA answering
// thousands of tokens a second writes no line per token at the default
// level, while failures and stalls still show. Bodies and query strings,
// which may hold personal data, are never logged.
func Wrap(next http.Handler, o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SlowRequest == 0 {
		o.SlowRequest = DefaultSlowRequest
	}
	ids := newIDSource()
	limiter, _ := next.(BodyLimiter)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(RequestIDHeader)
		if !plainID(id) {
			id = ids.next()
		}
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		// Assigned under canonical keys from one array (every request of
		// every listener passes here). nosniff: browsers must not guess a
		// DER blob or an error text into HTML.
		h := w.Header()
		v := []string{id, "nosniff"}
		h["X-Request-Id"], h["X-Content-Type-Options"] = v[0:1:1], v[1:2:2]
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			p := recover()
			if p == http.ErrAbortHandler {
				// The handler asked net/http to drop the connection: the
				// answer is cut short whatever status it began with, so
				// count it apart (nginx's "client closed request").
				sw.status = 499
				o.finish(r, sw, start)
				panic(p)
			}
			if p != nil {
				o.Logger.ErrorContext(r.Context(), "handler panic",
					"listener", o.Listener, "method", r.Method, "path", r.URL.Path, "request_id", id,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					http.Error(sw, "internal error", http.StatusInternalServerError)
				}
			}
			o.finish(r, sw, start)
		}()
		limit := o.MaxBodyBytes
		if limiter != nil {
			if n, declared := limiter.BodyLimit(r); declared {
				limit = n
			}
		}
		if !limitBody(w, sw, r, limit) {
			return
		}
		// ServeMux (and Mux's raw routes) set r.Pattern on this request;
		// finish reads it afterwards for a bounded route label.
		next.ServeHTTP(sw, r)
	})
}

func (o *Options) finish(r *http.Request, sw *statusWriter, start time.Time) {
	if sw.status == 0 {
		// The handler wrote nothing: net/http sends 200.
		sw.status = http.StatusOK
	}
	d := time.Since(start)
	route := RouteLabel(r.Pattern)
	if o.Metrics != nil {
		o.Metrics.observe(o.Listener, route, MethodLabel(r.Method), sw.status, d.Seconds())
	}
	level := slog.LevelDebug
	switch {
	case sw.status >= 500:
		level = slog.LevelWarn
	case o.SlowRequest > 0 && d >= o.SlowRequest:
		level = slog.LevelInfo
	}
	ctx := r.Context()
	if !o.Logger.Enabled(ctx, level) {
		return
	}
	o.Logger.LogAttrs(ctx, level, "http request",
		slog.String("listener", o.Listener),
		slog.String("request_id", RequestID(ctx)),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("route", route),
		slog.Int("status", sw.status),
		slog.Int64("bytes", sw.bytes),
		slog.Duration("duration", d),
		slog.String("remote", r.RemoteAddr),
	)
}

// limitBody caps the request body and reports whether the request may go
// on. A declared Content-Length over the cap is refused at once with 413
// (written to out, so it is logged and counted); a chunked body is cut by
// http.MaxBytesReader and handlers that read it answer 413 through
// ReadBody. The reader gets raw, net/http's own writer: through it the
// server learns the limit was hit and closes the connection instead of
// draining an unbounded body.
func limitBody(raw, out http.ResponseWriter, r *http.Request, limit int64) bool {
	if limit <= 0 {
		return true
	}
	if r.ContentLength > limit {
		TooLarge(out, limit)
		return false
	}
	if r.Body == nil || r.Body == http.NoBody {
		return true // net/http's empty body (a GET): nothing to cap
	}
	r.Body = http.MaxBytesReader(raw, r.Body, limit)
	return true
}

// statusWriter remembers the status and size of an answer for the log
// line and the metrics. Unwrap lets http.ResponseController reach the
// underlying writer (Flush, deadlines).
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// idSource makes request ids: a random prefix per middleware and a
// counter, unique within the process and across restarts without a
// crypto/rand read per request.
type idSource struct {
	prefix string
	n      atomic.Uint64
}

func newIDSource() *idSource {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return &idSource{prefix: hex.EncodeToString(b[:]) + "-"}
}

func (s *idSource) next() string {
	var b [32]byte // prefix 13 + at most 13 base-36 digits
	return string(strconv.AppendUint(append(b[:0], s.prefix...), s.n.Add(1), 36))
}

// plainID accepts a client's request id of 1 to 64 characters of
// [A-Za-z0-9._:-]: anything else could forge log lines or grow them.
func plainID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}
