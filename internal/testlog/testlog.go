// Package testlog holds the log sink tests share. It imports nothing of
// ours, so any package's internal tests may use it without a cycle.
package testlog

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that concurrent writers (a server's log
// handler, a child process's output) and a reading test may share.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
