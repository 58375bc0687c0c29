package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
)

func TestExitFor(t *testing.T) {
	cases := []struct {
		err  error
		code int
	}{
		{errors.New("boom"), exitInternal},
		{fmt.Errorf("issue: %w: %w", ca.ErrLint, &policy.LintError{Findings: []policy.Finding{{Lint: "e_x", Status: "error", Details: "d"}}}), exitInvalid},
		{fmt.Errorf("open HSM: %w", hsm.ErrPINIncorrect), exitForbidden},
		{fmt.Errorf("tsa show: %w", store.ErrNotFound), exitNotFound},
		{fmt.Errorf("ceremony: %w", store.ErrExists), exitConflict},
		{fmt.Errorf("issue: %w", ca.ErrInProgress), exitConflict},
		{fmt.Errorf("open database: %w", store.ErrUnavailable), exitUnavailable},
		{fmt.Errorf("query: %w", context.DeadlineExceeded), exitUnavailable},
	}
	for _, c := range cases {
		code, msg := exitFor(c.err)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d", c.err, code, c.code)
		}
		if !strings.HasPrefix(msg, "muhr: "+c.err.Error()) {
			t.Errorf("message %q does not carry the error", msg)
		}
	}
	if _, msg := exitFor(fmt.Errorf("x: %w", store.ErrUnavailable)); !strings.Contains(msg, "retry") {
		t.Errorf("unavailable without a hint: %q", msg)
	}
	// A schema that is behind does not come back by waiting: no advice to
	// retry (its message names `muhr db migrate`), and not exit 6.
	behind := fmt.Errorf("open database: %w; run `muhr db migrate --config x` first", store.ErrSchemaBehind)
	if code, msg := exitFor(behind); code != exitConflict || strings.Contains(msg, "retry") {
		t.Errorf("schema behind: exit %d %q; want %d and no advice to retry", code, msg, exitConflict)
	}
}

// A wrong flag is invalid input (exit 2), not an internal error.
func TestFlagErrorIsInvalid(t *testing.T) {
	cmd := newRootCmd()
	cmd.SetArgs([]string{"db", "migrate", "--no-such-flag"})
	err := cmd.ExecuteContext(context.Background())
	if code, _ := exitFor(err); err == nil || code != exitInvalid {
		t.Fatalf("err %v: exit %d", err, code)
	}
}
