package errkind_test

import (
	"fmt"
	"testing"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/ca/csr"
	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/tsa"
)

// Every sentinel callers branch on carries the kind its edges answer with,
// also when wrapped the usual way.
func TestSentinelKinds(t *testing.T) {
	cases := []struct {
		err  error
		want errkind.Kind
	}{
		{store.ErrNotFound, errkind.NotFound},
		{store.ErrExists, errkind.Conflict},
		{store.ErrDuplicateSerial, errkind.Conflict},
		{store.ErrUnavailable, errkind.Unavailable},

		{hsm.ErrKeyNotFound, errkind.NotFound},
		{hsm.ErrKeyExists, errkind.Conflict},
		{hsm.ErrPINIncorrect, errkind.Forbidden},
		{hsm.ErrTokenNotFound, errkind.Unavailable},
		{hsm.ErrModule, errkind.Unavailable},
		{hsm.ErrKeyExtractable, errkind.Forbidden},
		{hsm.ErrUnavailable, errkind.Unavailable},

		{policy.ErrInvalidIdentity, errkind.Invalid},
		{policy.ErrInvalidName, errkind.Invalid},
		{policy.ErrLint, errkind.Invalid},
		{policy.ErrUnknownProfile, errkind.Invalid},
		{policy.ErrIssuerNotAllowed, errkind.Forbidden},
		{policy.ErrProfileConfig, errkind.Invalid},
		{policy.ErrInvalidQCStatements, errkind.Invalid},
		{&policy.LintError{}, errkind.Invalid},

		{ca.ErrRequest, errkind.Invalid},
		{ca.ErrInProgress, errkind.Conflict},
		{ca.ErrLint, errkind.Invalid},
		{ca.ErrSign, errkind.Unavailable},
		{ca.ErrKeyReused, errkind.Conflict},
		{ca.ErrWrongIssuer, errkind.Forbidden},

		{csr.ErrMalformed, errkind.Invalid},
		{csr.ErrBadSignature, errkind.Invalid},
		{csr.ErrWeakSignatureAlgorithm, errkind.Invalid},
		{csr.ErrKeyType, errkind.Invalid},
		{csr.ErrWeakKey, errkind.Invalid},
		{csr.ErrInvalidKey, errkind.Invalid},
		{csr.ErrKeyIsCAKey, errkind.Invalid},

		{tsa.ErrLedgerClosed, errkind.Unavailable},
		{tsa.ErrUnit, errkind.Unavailable},
		{&tsa.Rejection{Failure: tsa.BadAlg}, errkind.Invalid},
		{&tsa.Rejection{Failure: tsa.UnacceptedPolicy}, errkind.Invalid},
		{&tsa.Rejection{Failure: tsa.TimeNotAvailable}, errkind.Unavailable},
		{&tsa.Rejection{Failure: tsa.SystemFailure}, errkind.Internal},

		{audit.ErrInvalidEntry, errkind.Invalid},
		{audit.ErrChainBroken, errkind.Internal},
		{audit.ErrMismatch, errkind.Internal},
		{audit.ErrHeadMismatch, errkind.Internal},
		{audit.ErrBadHead, errkind.Invalid},
	}
	for _, c := range cases {
		wrapped := fmt.Errorf("doing something: %w", c.err)
		if got := errkind.Of(wrapped); got != c.want {
			t.Errorf("%v: kind %v, want %v", c.err, got, c.want)
		}
	}
	// The issuer's lint refusal keeps the linter's findings (ca/issue.go
	// wraps both with %w).
	lint := fmt.Errorf("%w: %w", ca.ErrLint, &policy.LintError{Findings: []policy.Finding{{Lint: "e_x", Status: "error"}}})
	if errkind.Of(lint) != errkind.Invalid {
		t.Error("lint refusal not invalid")
	}
}
