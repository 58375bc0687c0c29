// Package server is muhrd's HTTP edge: the listeners (public, operations,
// later the officers' mTLS one), the health of the running roles, and the
// repository routes (CA certificates and CRLs). It depends only on the
// small interfaces in deps.go, so cmd/muhrd wires it to the real store and
// HSM and tests use fakes. The plumbing every route goes through (request
// id, body limit, panic guard, metrics, access log) is package httpx,
// which services import instead of this package.
package server
