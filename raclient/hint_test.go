package raclient

import (
	"errors"
	"strings"
	"testing"
)

// Over HTTP/2 a refused client certificate (TLS 1.3 judges it after the
// handshake) comes back without the TLS alert; the hint still names it.
func TestHintForHTTP2Refusal(t *testing.T) {
	err := errors.New(`Get "https://127.0.0.1:1/api/v1/requests": http2: client conn could not be established`)
	if h := hintFor(err); !strings.Contains(h, "client certificate") {
		t.Errorf("hint %q", h)
	}
}
