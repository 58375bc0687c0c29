package httpx

import (
	"net/http"
	"time"
)

// LongUpload gives one route more time than the listener's read and write
// timeouts (http.read_timeout, http.write_timeout), which suit OCSP and TSA
// requests of a few hundred bytes but cut off a document of megabytes on a
// slow link: the request body may take read from the moment the handler
// starts, and the answer must be written within read+work. Other routes
// keep the listener's timeouts.
func LongUpload(next http.Handler, read, work time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		now := time.Now()
		// Errors mean the writer cannot move deadlines (not net/http's):
		// the listener's timeouts then stay, which is safe.
		_ = rc.SetReadDeadline(now.Add(read))
		_ = rc.SetWriteDeadline(now.Add(read + work))
		next.ServeHTTP(w, r)
	})
}
