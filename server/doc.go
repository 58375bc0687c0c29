// Package server is the public HTTP surface of muhrd: health, metrics and the
// repository (CA certificates and CRLs). It depends only on the small
// interfaces in deps.go so cmd/muhrd can wire it to the real store and HSM
// and tests can use fakes.
//
// Every route goes through the same middleware: a request-body limit, a
// panic guard, one slog line per request and Prometheus metrics on the
// registry passed in (never the global one).
package server
