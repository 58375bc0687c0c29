// Package errkind is the center's one error taxonomy: every sentinel error
// callers branch on carries one of a few kinds, and the two edges map kinds
// to answers in one place each (httpx.Status for HTTP, cmd/muhr for exit
// codes). It imports nothing of ours, so every package may use it.
//
// An error carries a kind by having a method
//
//	ErrorKind() string
//
// that returns a kind's name ("invalid", "not_found", ...). The method
// returns a string, not a Kind, so that packages which import nothing of
// ours (policy, hsm) can give their sentinels a kind without importing this
// package; the knowledge of what an error means stays where it is declared.
package errkind

import (
	"context"
	"errors"
)

// Kind is the class of a failure, as an edge must answer it.
type Kind uint8

// The kinds. The zero value is Internal: an error nobody classified is our
// fault until shown otherwise.
const (
	// Internal: a bug or a broken invariant; the caller cannot fix it.
	Internal Kind = iota
	// Invalid: the input is wrong; the same input will always fail.
	Invalid
	// Forbidden: the caller (or the policy) may not do this.
	Forbidden
	// NotFound: what was asked for does not exist.
	NotFound
	// Conflict: the request clashes with the current state (already
	// exists, in progress, key already certified).
	Conflict
	// Unavailable: a dependency (database, HSM, clock) cannot serve now;
	// retrying later may succeed.
	Unavailable
)

var names = [...]string{
	Internal:    "internal",
	Invalid:     "invalid",
	Forbidden:   "forbidden",
	NotFound:    "not_found",
	Conflict:    "conflict",
	Unavailable: "unavailable",
}

// String returns the kind's name, the string ErrorKind methods return.
func (k Kind) String() string {
	if int(k) < len(names) {
		return names[k]
	}
	return names[Internal]
}

// Parse returns the kind named s.
func Parse(s string) (Kind, bool) {
	for k, n := range names {
		if n == s {
			return Kind(k), true
		}
	}
	return Internal, false
}

// kinded is what an error with a kind implements.
type kinded interface{ ErrorKind() string }

// Of returns the kind of err: that of the outermost error in its tree that
// names a known kind (the layer nearest the edge knows best what the
// failure means to its caller). An error without one is Unavailable when it
// is a context deadline or cancellation, and Internal otherwise. Of(nil) is
// Internal; callers check err != nil first.
func Of(err error) Kind {
	if k, ok := find(err, 0); ok {
		return k
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Unavailable
	}
	return Internal
}

// maxDepth bounds the walk of a pathologically deep error tree.
const maxDepth = 100

// find walks err's tree depth first, in the order errors.As does.
func find(err error, depth int) (Kind, bool) {
	for err != nil && depth < maxDepth {
		if ke, ok := err.(kinded); ok {
			if k, known := Parse(ke.ErrorKind()); known {
				return k, true
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
			depth++
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if k, ok := find(e, depth+1); ok {
					return k, true
				}
			}
			return Internal, false
		default:
			return Internal, false
		}
	}
	return Internal, false
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return err != nil && Of(err) == k }

// sentinel is an error with a fixed message and kind; compare it with
// errors.Is (pointer identity).
type sentinel struct {
	msg  string
	kind Kind
}

func (e *sentinel) Error() string     { return e.msg }
func (e *sentinel) ErrorKind() string { return e.kind.String() }

// New returns a sentinel error of kind k.
func New(k Kind, msg string) error { return &sentinel{msg: msg, kind: k} }

// wrapped gives an error that has none (or another) a kind.
type wrapped struct {
	err  error
	kind Kind
}

func (e *wrapped) Error() string     { return e.err.Error() }
func (e *wrapped) Unwrap() error     { return e.err }
func (e *wrapped) ErrorKind() string { return e.kind.String() }

// Wrap returns err with kind k (nil for a nil err); the message is err's.
func Wrap(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &wrapped{err: err, kind: k}
}
