package server

import (
	"context"

	"github.com/muhr-pki/muhr/store"
)

// Repository is what the repository routes read. store.Store satisfies it.
type Repository interface {
	// GetCA returns store.ErrNotFound for an unknown id.
	GetCA(ctx context.Context, id string) (store.CA, error)
	// LatestCRL returns store.ErrNotFound when the issuer has no CRL.
	LatestCRL(ctx context.Context, issuerID string) (store.CRL, error)
}

// Checker reports whether one thing a role needs works right now. It must
// be safe for concurrent use and should honour ctx: a checker that ignores
// it is still reported failed when the health timeout passes.
type Checker interface {
	Check(ctx context.Context) error
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context) error

// Check calls f.
func (f CheckerFunc) Check(ctx context.Context) error { return f(ctx) }
