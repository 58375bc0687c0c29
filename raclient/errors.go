package raclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/muhr-pki/muhr/errkind"
)

// Refused is the server's answer to a call it did not carry out: its JSON
// error, which says what is wrong and what to fix.
type Refused struct {
	Status  int    // HTTP status
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	State   string `json:"state,omitempty"`
}

func (e *Refused) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	var extra []string
	if e.Field != "" && !strings.Contains(msg, e.Field) {
		extra = append(extra, "field "+e.Field)
	}
	if e.State != "" && !strings.Contains(msg, e.State) {
		extra = append(extra, "current state "+e.State)
	}
	if len(extra) > 0 {
		msg += " (" + strings.Join(extra, "; ") + ")"
	}
	return "refused by the server: " + msg
}

// ErrorKind lets errkind.Of classify a refusal by the server's kind.
func (e *Refused) ErrorKind() string {
	if _, ok := errkind.Parse(e.Kind); ok {
		return e.Kind
	}
	return errkind.Internal.String()
}

// Unreachable is a call that got no answer from the server: it could not
// be dialled, the TLS handshake failed, or it timed out.
type Unreachable struct {
	Server string
	Err    error
}

func (e *Unreachable) Error() string {
	return fmt.Sprintf("server %s unreachable: %v%s", e.Server, e.Err, hintFor(e.Err))
}

func (e *Unreachable) Unwrap() error { return e.Err }

// ErrorKind: the server may be back later.
func (e *Unreachable) ErrorKind() string { return errkind.Unavailable.String() }

// hintFor says what to check for the usual TLS failures.
func hintFor(err error) string {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var alert tls.AlertError
	var rec *tls.RecordHeaderError
	msg := err.Error()
	switch {
	case errors.As(err, &ua):
		return "\n  fix: ca_bundle in the officer config must hold the management CA that issued the server's certificate"
	case errors.As(err, &hn):
		return "\n  fix: the server URL's host must be one the server's certificate names"
	case errors.As(err, &ci):
		return "\n  fix: the server's certificate is not valid now (expired, or the clock is wrong)"
	case errors.As(err, &alert), strings.Contains(msg, "remote error: tls:"):
		return "\n  fix: the server refused the client certificate: cert/key in the officer config must be an officer certificate from the management CA"
	case strings.Contains(msg, "http2: client conn could not be established"):
		// TLS 1.3: the server judges the client certificate after the
		// handshake, and HTTP/2 reports its refusal without the alert.
		return "\n  fix: the server closed the connection while setting it up; most often it refused the client certificate: cert/key in the officer config must be an officer certificate from the management CA"
	case errors.As(err, &rec):
		return "\n  fix: the server did not answer TLS; the server URL must be the officer API's https address"
	case strings.Contains(msg, "connection refused"):
		return "\n  fix: is muhrd running with the ra role, and is the server URL right?"
	case strings.Contains(msg, "deadline exceeded") || strings.Contains(msg, "Timeout"):
		return "\n  fix: the server did not answer in time; retry, or raise timeout in the officer config"
	}
	return ""
}
