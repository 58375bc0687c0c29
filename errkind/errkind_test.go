package errkind

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

type stringKind string

func (s stringKind) Error() string     { return "foreign " + string(s) }
func (s stringKind) ErrorKind() string { return string(s) }

func TestOf(t *testing.T) {
	notFound := New(NotFound, "thing: not found")
	conflict := New(Conflict, "thing: exists")
	cases := []struct {
		name string
		err  error
		want Kind
	}{
		{"sentinel", notFound, NotFound},
		{"wrapped with %w", fmt.Errorf("get x: %w", notFound), NotFound},
		{"outermost wins", fmt.Errorf("%w: %w", conflict, notFound), Conflict},
		{"outer wrapper wins over inner sentinel", Wrap(Unavailable, fmt.Errorf("x: %w", notFound)), Unavailable},
		{"joined", errors.Join(errors.New("plain"), notFound), NotFound},
		{"foreign package, by method", fmt.Errorf("hsm: %w", stringKind("forbidden")), Forbidden},
		{"unknown kind name is skipped", fmt.Errorf("%w: %w", stringKind("weird"), conflict), Conflict},
		{"plain error", errors.New("boom"), Internal},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), Unavailable},
		{"cancelled", context.Canceled, Unavailable},
		{"explicit internal beats deadline", Wrap(Internal, context.DeadlineExceeded), Internal},
		{"%v drops the kind", fmt.Errorf("x: %v", notFound), Internal},
	}
	for _, c := range cases {
		if got := Of(c.err); got != c.want {
			t.Errorf("%s: Of = %v, want %v", c.name, got, c.want)
		}
	}
	if !errors.Is(fmt.Errorf("a: %w", notFound), notFound) || errors.Is(notFound, New(NotFound, "thing: not found")) {
		t.Error("sentinels must compare by identity")
	}
	if Wrap(Invalid, nil) != nil {
		t.Error("Wrap(nil) is not nil")
	}
	if Is(nil, Internal) {
		t.Error("Is(nil) true")
	}
}

func TestNamesRoundTrip(t *testing.T) {
	for k := Internal; k <= Unavailable; k++ {
		got, ok := Parse(k.String())
		if !ok || got != k {
			t.Errorf("%d: %q parses to %v %v", k, k.String(), got, ok)
		}
	}
	if _, ok := Parse("nope"); ok {
		t.Error("unknown name parsed")
	}
	if Kind(200).String() != "internal" {
		t.Error("out-of-range kind")
	}
}
