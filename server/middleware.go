package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

// statusWriter remembers the status and size of a response for the log line
// and the metrics. Unwrap lets http.ResponseController reach the
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

// wrap is the middleware every route goes through: it applies the body
// limit, logs one line per request (never bodies or query strings, which may
// carry personal data), records metrics, and turns a handler panic into a
// 500 so that it is counted and logged like any other failure.
func (s *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Browsers must not guess a DER blob or an error text into HTML.
		w.Header().Set("X-Content-Type-Options", "nosniff")
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			p := recover()
			if p == http.ErrAbortHandler {
				// The handler asked net/http to drop the connection: the
				// response is cut short whatever status it started with,
				// so count it apart (nginx's "client closed request").
				sw.status = 499
				s.finish(r, sw, start)
				panic(p)
			}
			if p != nil {
				s.log.ErrorContext(r.Context(), "handler panic",
					"method", r.Method, "path", r.URL.Path,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					http.Error(sw, "internal error", http.StatusInternalServerError)
				}
			}
			s.finish(r, sw, start)
		}()
		if !s.limitBody(w, sw, r) {
			return
		}
		// ServeMux sets r.Pattern on this same request; finish reads it
		// afterwards for a bounded route label.
		next.ServeHTTP(sw, r)
	})
}

func (s *Server) finish(r *http.Request, sw *statusWriter, start time.Time) {
	if sw.status == 0 {
		// The handler wrote nothing: net/http sends 200.
		sw.status = http.StatusOK
	}
	d := time.Since(start)
	route := routeLabel(r.Pattern)
	s.metrics.observeRequest(route, methodLabel(r.Method), sw.status, d.Seconds())

	// Probes arrive every few seconds; keep them out of the info log.
	level := slog.LevelInfo
	if (route == "/healthz" || route == "/metrics") && sw.status < 500 {
		level = slog.LevelDebug
	}
	s.log.LogAttrs(r.Context(), level, "http request",
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("route", route),
		slog.Int("status", sw.status),
		slog.Int64("bytes", sw.bytes),
		slog.Duration("duration", d),
		slog.String("remote", r.RemoteAddr),
	)
}

// limitBody caps the request body at HTTP.MaxBodyBytes and reports
// whether the request may go on. A declared Content-Length over the cap is
// refused at once with 413 (written to out, so it is logged and counted);
// a chunked body is cut by http.MaxBytesReader and handlers that read it
// answer 413 through ReadBody. The reader gets raw, net/http's own writer:
// through it the server learns the limit was hit and closes the connection
// instead of draining an unbounded body.
func (s *Server) limitBody(raw, out http.ResponseWriter, r *http.Request) bool {
	limit := s.httpCfg.MaxBodyBytes
	if limit <= 0 {
		return true
	}
	if r.ContentLength > limit {
		tooLarge(out, limit)
		return false
	}
	r.Body = http.MaxBytesReader(raw, r.Body, limit)
	return true
}
