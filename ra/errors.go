package ra

import (
	"errors"
	"fmt"

	"github.com/muhr-pki/muhr/errkind"
)

// Errors callers branch on; each refusal wraps one (or is an *Error).
var (
	ErrNotAuthorized  = errkind.New(errkind.Forbidden, "ra: not authorized")
	ErrUnknownOfficer = errkind.New(errkind.Forbidden, "ra: no active officer holds this certificate")
	ErrInvalid        = errkind.New(errkind.Invalid, "ra: invalid input")
	ErrNotFound       = errkind.New(errkind.NotFound, "ra: not found")
	ErrState          = errkind.New(errkind.Conflict, "ra: not possible in the current state")
)

// Error is a refusal with what the API shows: the kind, the input field at
// fault and the current state of a request or certificate.
type Error struct {
	Kind  errkind.Kind
	Field string // the input field at fault, if one
	State string // the current state, on a conflict
	Msg   string
	Err   error // the cause, if any
}

func (e *Error) Error() string { return e.Msg }

// ErrorKind makes errkind.Of see the kind.
func (e *Error) ErrorKind() string { return e.Kind.String() }

func (e *Error) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) error {
	return &Error{Kind: errkind.Invalid, Field: field, Msg: field + ": " + fmt.Sprintf(format, args...), Err: ErrInvalid}
}

func stateErr(state, format string, args ...any) error {
	return &Error{Kind: errkind.Conflict, State: state, Msg: fmt.Sprintf(format, args...), Err: ErrState}
}

func forbidden(format string, args ...any) error {
	return &Error{Kind: errkind.Forbidden, Msg: fmt.Sprintf(format, args...), Err: ErrNotAuthorized}
}

func notFound(format string, args ...any) error {
	return &Error{Kind: errkind.NotFound, Msg: fmt.Sprintf(format, args...), Err: ErrNotFound}
}

// Details extracts the field and state of err (empty when it has none).
func Details(err error) (field, state string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Field, e.State
	}
	return "", ""
}
