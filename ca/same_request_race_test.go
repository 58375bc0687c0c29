package ca_test

import (
	"context"
	"errors"
	"testing"

	"github.com/muhr-pki/muhr/ca"
)

// The same request (same id, same content) prepared by two issuers at
// once, as by two `muhr dev issue` runs with the same inputs: while the
// first is signing, the second is told the request is in progress (never
// "key already certified, generate a new key", which the database's key
// index said first on SQLite); once the first is done, the second gets
// the same certificate.
func TestSameRequestRacingItself(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			c := newCenter(t, backend)
			signed, resume := make(chan struct{}), make(chan struct{})
			first := c.issuer(t, "qca-demo", c.keys, func(s ca.Stage) error {
				if s == ca.StageSigned {
					close(signed)
					<-resume
				}
				return nil
			})
			second := c.issuer(t, "qca-demo", c.keys, nil)
			req := personRequest(t, "r-twice")
			p1, err := first.Prepare(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			p2, err := second.Prepare(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				serial string
				err    error
			}
			done := make(chan result, 1)
			go func() {
				cert, err := first.Issue(ctx, p1)
				if err != nil {
					done <- result{err: err}
					return
				}
				done <- result{serial: cert.SerialNumber.Text(16)}
			}()
			<-signed
			if _, err := second.Issue(ctx, p2); !errors.Is(err, ca.ErrInProgress) {
				t.Errorf("the same request while it is being signed: %v; want ErrInProgress", err)
			}
			close(resume)
			r := <-done
			if r.err != nil {
				t.Fatal(r.err)
			}
			p3, err := second.Prepare(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			again, err := second.Issue(ctx, p3)
			if err != nil || again.SerialNumber.Text(16) != r.serial {
				t.Fatalf("the same request once issued: %v (serial %v, want %s)", err, again, r.serial)
			}
			if n := abandons(t, c.st); n != 0 {
				t.Fatalf("%d abandon records", n)
			}
		})
	}
}
