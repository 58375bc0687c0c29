package policy

import (
	"errors"
	"fmt"
	"testing"
)

// The findings travel in the error, also through a caller's %w wrapping.
func TestLintErrorCarriesFindings(t *testing.T) {
	r := Result{Kind: KindQESPerson, Findings: []Finding{
		{Lint: "e_one", Source: "RFC5280", Status: "error", Details: "bad thing"},
		{Lint: "w_two", Source: "ETSI_ESI", Status: "warn", Accepted: "profile accepts it"},
		{Lint: "w_three", Source: "CABF_BR", Status: "warn", Details: "odd"},
	}}
	err := fmt.Errorf("%w: %w", errors.New("issuer: refused"), r.Err())
	var le *LintError
	if !errors.As(err, &le) {
		t.Fatalf("no *LintError in %v", err)
	}
	if le.Kind != KindQESPerson || len(le.Findings) != 2 || le.Findings[0].Lint != "e_one" ||
		le.Findings[0].Status != "error" || le.Findings[0].Details != "bad thing" || le.Findings[1].Lint != "w_three" {
		t.Fatalf("findings %+v", le.Findings)
	}
	if !errors.Is(err, ErrLint) {
		t.Error("errors.Is(err, ErrLint) is false")
	}
	if le.ErrorKind() != "invalid" {
		t.Errorf("kind %q", le.ErrorKind())
	}
	want := "certificate lint failed for " + string(KindQESPerson) + ": error e_one (RFC5280): bad thing; warn w_three (CABF_BR): odd"
	if le.Error() != want {
		t.Errorf("message %q, want %q", le.Error(), want)
	}
	if (Result{Findings: r.Findings[1:2]}).Err() != nil {
		t.Error("only accepted findings, yet an error")
	}
}
