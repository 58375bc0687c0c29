// Package httpx is the HTTP plumbing every service of the center shares:
// the middleware (request id, panic guard, body limit, metrics, access
// log), reading a bounded body, the one mapping of error kinds to HTTP
// statuses, and a mux that can hand a path to a handler without
// net/http's path cleaning. Services (tsa, later ocsp) import this package,
// never the server; it imports nothing of ours but errkind.
package httpx
