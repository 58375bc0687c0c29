package main

import (
	"context"
	"errors"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/server"
)

// keyProber tells whether the token can sign with one key now (a cheap,
// rate-limited signature of a fixed digest; (*pkcs11.Token).ProbeKey).
type keyProber interface {
	ProbeKey(ctx context.Context, label string) error
}

// dbProber is what health needs of the store: Probe takes a write within
// ctx (a locked database, a full disk or an unwritable WAL fail it), Ping
// only asks whether the database answers (for roles that only read).
type dbProber interface {
	Probe(ctx context.Context) error
	Ping(ctx context.Context) error
}

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
func dbCheck(st dbProber, a dbAccess) *server.Check {
	if a == dbWrite {
		return &server.Check{Name: "db", Target: "write", Code: server.ReasonDBUnwritable, Probe: server.CheckerFunc(st.Probe)}
	}
	return &server.Check{Name: "db", Target: "read", Code: server.ReasonDBUnavailable, Probe: server.CheckerFunc(st.Ping)}
}
