package testpki

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// SlowPOST sends body to addr+path on a connection of its own in ten
// pieces spread over spread, as a slow link delivers an upload, and
// returns the answer's status line, or what ended the exchange ("write:
// ..." when the server closed on it, "no answer: ..."). contentType may be
// empty.
func SlowPOST(t testing.TB, addr, path, contentType string, body []byte, spread time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n", path, len(body))
	if contentType != "" {
		head += "Content-Type: " + contentType + "\r\n"
	}
	if _, err := io.WriteString(c, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
	step := len(body)/10 + 1
	for len(body) > 0 {
		time.Sleep(spread / 10)
		k := min(step, len(body))
		if _, err := c.Write(body[:k]); err != nil {
			return "write: " + err.Error()
		}
		body = body[k:]
	}
	line, err := io.ReadAll(io.LimitReader(c, 64))
	if len(line) == 0 {
		return fmt.Sprintf("no answer: %v", err)
	}
	s, _, _ := strings.Cut(string(line), "\r\n")
	return s
}
