package main

import (
	"context"
	"fmt"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/store"
)

// startRevocationJobs runs the ca role's two schedules beside the CRL
// producer, each under its own lease so one muhrd works at a time: holds
// past revocation.max_hold become revocations, and the delegated OCSP
// signers of cas are renewed with a fresh key on the token at two thirds
// of their life. Both stop with the services.
func startRevocationJobs(ctx context.Context, e *edge, cas []string, holder string) error {
	c := e.cfg.Revocation.Effective()
	log := e.log.With("role", "ca")
	rv, err := ca.NewRevoker(ca.RevokerOptions{Store: e.store, MaxHold: c.MaxHold})
	if err != nil {
		return err
	}
	hx := &ca.HoldExpirer{Revoker: rv, Leases: e.store, MaxHold: c.MaxHold, Holder: holder,
		LeaseTTL: 3 * c.HoldCheckInterval, Log: log}
	keys, ok := e.keys.(ca.OCSPSignerKeys)
	if !ok {
		return fmt.Errorf("ocsp signer renewal: the key store cannot generate keys")
	}
	var issuing []string
	for _, id := range cas {
		if _, err := e.store.LatestSigner(ctx, store.SignerRoleOCSP, id); err == nil {
			issuing = append(issuing, id)
		}
	}
	rn := &ca.OCSPSignerRenewer{Store: e.store, Keys: keys, CAs: issuing, PublicURL: e.cfg.PublicURL,
		Validity: c.OCSPSignerValidity, Holder: holder, LeaseTTL: 3 * c.OCSPSignerCheckInterval, Actor: "muhrd", Log: log}
	done := make(chan struct{}, 2)
	go func() { defer func() { done <- struct{}{} }(); hx.Run(e.svc, c.HoldCheckInterval) }()
	go func() { defer func() { done <- struct{}{} }(); rn.Run(e.svc, c.OCSPSignerCheckInterval) }()
	// A key being generated or a hold being revoked finishes and the
	// leases are given up before the store closes.
	e.onClose(func() { <-done; <-done })
	log.Info("revocation: hold expiry and OCSP signer renewal started", "max_hold", c.MaxHold,
		"hold_check_interval", c.HoldCheckInterval, "ocsp_signer_validity", c.OCSPSignerValidity,
		"ocsp_signer_check_interval", c.OCSPSignerCheckInterval, "ocsp_signers", issuing)
	return nil
}
