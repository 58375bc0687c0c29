package httpx

import (
	"net/http"
	"sort"
	"strings"
)

// Mux is an http.ServeMux plus raw routes. A raw route gets every request
// whose path starts with its prefix as sent: ServeMux cleans paths and
// answers one holding "//" or "/./" with a redirect, but an OCSP GET
// carries base64 (RFC 6960 appendix A), which may hold "//". Raw routes are
// matched first, longest prefix first. Register routes before serving.
type Mux struct {
	mux *http.ServeMux
	raw []rawRoute
	// limits are the MaxBody caps of ServeMux patterns; limited is set once
	// any route (raw or not) declares one, so a listener without any pays
	// no second route match per request.
	limits  map[string]int64
	limited bool
}

type rawRoute struct {
	method  string // "" any
	prefix  string
	h       http.Handler
	maxBody int64  // 0: the listener's default
	pattern string // r.Pattern of its requests: "METHOD prefix"
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{mux: http.NewServeMux(), limits: map[string]int64{}} }

// Handle registers h for a ServeMux pattern ("GET /ca/{file}"). It panics on
// a conflicting pattern, as ServeMux does.
func (m *Mux) Handle(pattern string, h http.Handler, opts ...RouteOption) {
	m.mux.Handle(pattern, h)
	if o := buildRouteOptions(opts); o.maxBody > 0 {
		m.limits[pattern] = o.maxBody
		m.limited = true
	}
}

// HandleFunc registers f for a ServeMux pattern.
func (m *Mux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request), opts ...RouteOption) {
	m.Handle(pattern, http.HandlerFunc(f), opts...)
}

// HandleRaw registers h for method ("" for any; GET also takes HEAD) on
// every path starting with prefix, which must begin with "/". The handler
// reads the rest of the path with RawTail; r.Pattern is "METHOD prefix", so
// metrics label the route by its prefix, never by the client's path.
func (m *Mux) HandleRaw(method, prefix string, h http.Handler, opts ...RouteOption) {
	if !strings.HasPrefix(prefix, "/") || h == nil {
		panic("httpx: HandleRaw needs a prefix starting with / and a handler")
	}
	for _, r := range m.raw {
		if r.prefix == prefix && r.method == method {
			panic("httpx: raw route " + method + " " + prefix + " registered twice")
		}
	}
	o := buildRouteOptions(opts)
	m.raw = append(m.raw, rawRoute{method: method, prefix: prefix, h: h, maxBody: o.maxBody,
		pattern: strings.TrimSpace(method + " " + prefix)})
	m.limited = m.limited || o.maxBody > 0
	sort.SliceStable(m.raw, func(i, j int) bool { return len(m.raw[i].prefix) > len(m.raw[j].prefix) })
}

// RawTail returns the request's path after prefix, percent-decoded once
// ("%2F" is "/"; "+" stays "+", as base64 needs).
func RawTail(r *http.Request, prefix string) string {
	return strings.TrimPrefix(r.URL.Path, prefix)
}

// ServeHTTP dispatches to a raw route or to the ServeMux.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(m.raw) > 0 {
		if m.serveRaw(w, r) {
			return
		}
	}
	m.mux.ServeHTTP(w, r)
}

func (m *Mux) serveRaw(w http.ResponseWriter, r *http.Request) bool {
	var matched string
	var allow []string
	for _, rt := range m.raw {
		if !strings.HasPrefix(r.URL.Path, rt.prefix) {
			continue
		}
		if matched != "" && rt.prefix != matched {
			break // a shorter prefix: the longer one owns the path
		}
		matched = rt.prefix
		if rt.method == "" || rt.method == r.Method || (rt.method == http.MethodGet && r.Method == http.MethodHead) {
			r.Pattern = rt.pattern
			rt.h.ServeHTTP(w, r)
			return true
		}
		allow = append(allow, rt.method)
		if rt.method == http.MethodGet {
			allow = append(allow, http.MethodHead)
		}
	}
	if matched == "" {
		return false
	}
	r.Pattern = matched
	w.Header().Set("Allow", strings.Join(allow, ", "))
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return true
}
