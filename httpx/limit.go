package httpx

import (
	"fmt"
	"net/http"
	"strings"
)

// RouteOption changes how a route is served; pass it to Mux.Handle or
// Mux.HandleRaw.
type RouteOption func(*routeOptions)

type routeOptions struct {
	maxBody int64 // 0: the listener's default
}

// MaxBody gives the route its own request body cap in place of the
// listener's (Options.MaxBodyBytes): the validation service takes
// documents of megabytes, while OCSP keeps 64 KiB. The middleware applies
// it as it does the default (413 by Content-Length before the handler
// runs, a cut stream for a chunked body). limit must be positive.
func MaxBody(limit int64) RouteOption {
	if limit <= 0 {
		panic(fmt.Sprintf("httpx: MaxBody(%d): a route's body limit must be positive", limit))
	}
	return func(o *routeOptions) { o.maxBody = limit }
}

func buildRouteOptions(opts []RouteOption) routeOptions {
	var o routeOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// BodyLimiter is a handler that knows the body cap of the route a request
// goes to. Wrap asks it before routing; declared=false means the route
// declared none and the listener's default applies.
type BodyLimiter interface {
	BodyLimit(r *http.Request) (limit int64, declared bool)
}

// BodyLimit returns the body cap the route of r declared with MaxBody.
// It matches r as ServeHTTP will (raw routes first), without serving it.
func (m *Mux) BodyLimit(r *http.Request) (int64, bool) {
	if !m.limited {
		return 0, false
	}
	if rt, ok := m.matchRaw(r); ok {
		return rt.maxBody, rt.maxBody > 0
	}
	_, pattern := m.mux.Handler(r)
	if n, ok := m.limits[pattern]; ok {
		return n, true
	}
	return 0, false
}

// matchRaw finds the raw route serving r, if any.
func (m *Mux) matchRaw(r *http.Request) (rawRoute, bool) {
	var matched string
	for _, rt := range m.raw {
		if !strings.HasPrefix(r.URL.Path, rt.prefix) {
			continue
		}
		if matched != "" && rt.prefix != matched {
			break
		}
		matched = rt.prefix
		if rt.method == "" || rt.method == r.Method || (rt.method == http.MethodGet && r.Method == http.MethodHead) {
			return rt, true
		}
	}
	return rawRoute{}, false
}
