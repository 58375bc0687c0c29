package main

import (
	"context"
	"fmt"

	"github.com/muhr-pki/muhr/server"
)

// ocspSigners is what the signer health checks need of the responder
// (*ocsp.Authority): the CAs it answers for and the key each signs with now.
type ocspSigners interface {
	CAs() []string
	SignerLabel(caID string) string
}

// ocspSignerChecks makes one HSM check per CA the responder answers for.
// Each probe asks the responder which key it signs with at that moment, so
// once a renewed signer is reloaded (ocsp.ReloadSigners) health probes the
// new key and the old one no longer matters; a check fixed to the label
// seen at start would probe a key nobody signs with until a restart.
func ocspSignerChecks(auth ocspSigners, probe func(label string) server.Checker) []*server.Check {
	var out []*server.Check
	for _, id := range auth.CAs() {
		out = append(out, &server.Check{Name: "hsm", Target: "ocsp signer of " + id, Code: server.ReasonKeyCannotSign, Classify: hsmReason,
			Probe: server.CheckerFunc(func(ctx context.Context) error {
				label := auth.SignerLabel(id)
				if err := probe(label).Check(ctx); err != nil {
					return fmt.Errorf("ocsp signer key %s of CA %s: %w", label, id, err)
				}
				return nil
			})})
	}
	return out
}
