package main

import (
	"context"
	"errors"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/server"
)

// keyProber tells whether the token can sign with one key now (a cheap,
// rate-limited signature of a fixed digest).
type keyProber interface {
	ProbeKey(ctx context.Context, label string) error
}

// writeProber tells whether the database takes a write within ctx.
type writeProber interface {
	Probe(ctx context.Context) error
}

// pinger is what exists today on the store (Ping) for a read role.
type pinger interface {
	Ping(ctx context.Context) error
}

// tokenHealth is what exists today on the token: login state, not a key.
type tokenHealth interface {
	Health(ctx context.Context) error
}

// keyProberFor returns tok's ProbeKey when it has one, else an adapter on
// Health, which says the token is logged in but not that the key signs.
// TODO(coordinator): wire ProbeKey/Probe — once (*pkcs11.Token).ProbeKey
// is merged the assertion picks it up; then drop healthAsKeyProbe.
func keyProberFor(tok tokenHealth) keyProber {
	if p, ok := tok.(keyProber); ok {
		return p
	}
	return healthAsKeyProbe{tok}
}

type healthAsKeyProbe struct{ tok tokenHealth }

func (p healthAsKeyProbe) ProbeKey(ctx context.Context, _ string) error { return p.tok.Health(ctx) }

// writeProberFor returns the store's write Probe when it has one, else an
// adapter on Ping, which says the database answers but not that it takes
// a write. TODO(coordinator): wire ProbeKey/Probe — once the store's
// Probe(ctx) error is merged the assertion picks it up; then drop pingAsWriteProbe.
func writeProberFor(st pinger) writeProber {
	if p, ok := st.(writeProber); ok {
		return p
	}
	return pingAsWriteProbe{st}
}

type pingAsWriteProbe struct{ st pinger }

func (p pingAsWriteProbe) Probe(ctx context.Context) error { return p.st.Ping(ctx) }

// hsmReason tells a token that is gone from a key that does not sign.
func hsmReason(err error) string {
	for _, e := range []error{hsm.ErrUnavailable, hsm.ErrTokenNotFound, hsm.ErrModule, hsm.ErrPINIncorrect} {
		if errors.Is(err, e) {
			return server.ReasonHSMUnavailable
		}
	}
	return server.ReasonKeyCannotSign
}

// dbCheck is the database check of a process whose roles need access a.
func dbCheck(st pinger, a dbAccess) *server.Check {
	if a == dbWrite {
		p := writeProberFor(st)
		return &server.Check{Name: "db", Target: "write", Code: server.ReasonDBUnwritable, Probe: server.CheckerFunc(p.Probe)}
	}
	return &server.Check{Name: "db", Target: "read", Code: server.ReasonDBUnavailable, Probe: server.CheckerFunc(st.Ping)}
}
