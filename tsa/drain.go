package tsa

import (
	"context"
	"sync"
)

// gate counts the requests in flight and, once closed, admits no more.
type gate struct {
	mu     sync.Mutex
	closed bool
	n      int
	idle   chan struct{} // closed when closed and n is 0
}

func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.n++
	return true
}

func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.closed && g.n == 0 {
		close(g.idle)
	}
}

// close stops admitting and returns a channel closed once none is in flight.
func (g *gate) close() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.closed, g.idle = true, make(chan struct{})
		if g.n == 0 {
			close(g.idle)
		}
	}
	return g.idle
}

// Closer is a Ledger that holds resources (BatchLedger's writer).
type Closer interface{ Close() error }

// Close drains the server: it refuses new requests (systemFailure, "shutting
// down"), waits until every request in flight has its token committed and
// answered, then closes the ledger when it is a Closer. If ctx ends first,
// Close returns ctx's error and leaves the ledger open, so the requests
// still in flight can finish.
func (s *Server) Close(ctx context.Context) error {
	select {
	case <-s.gate.close():
	case <-ctx.Done():
		return ctx.Err()
	}
	if c, ok := s.ledger.(Closer); ok {
		return c.Close()
	}
	return nil
}
