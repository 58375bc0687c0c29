package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/ocsp"
	"github.com/muhr-pki/muhr/server"
)

// mountOCSP builds the responder from ocsp: in muhrd.yaml: every issuing
// CA with a delegated OCSP signer, the signers' keys from the token. It
// mounts POST /ocsp and GET /ocsp/<base64> (a raw-path route, so "//" in
// the base64 is not redirected) on the public listener, starts the
// refresher on the services' context, and adds a health check per signer
// key and one that degrades while the database is away (the cache keeps
// answering).
//
// HOOK(status-feed): when store.StatusChangesAfter lands, adapt it to an
// ocsp.ChangeFeed and start `go auth.Follow(e.svc, feed, latestSeq, interval)`
// here, so a status change reaches the next answer within one poll.
func mountOCSP(ctx context.Context, e *edge) error {
	c := e.cfg.OCSP
	auth, err := ocsp.New(ctx, ocsp.Options{Store: e.store, Keys: e.keys, Validity: c.Validity, Log: e.log})
	if err != nil {
		return err
	}
	go auth.Run(e.svc, c.RefreshInterval)
	h := ocsp.NewResponder(auth, e.log)
	pub := e.srv.Public()
	pub.Handle("POST /ocsp", h)
	pub.HandleRaw(http.MethodGet, ocsp.GETPrefix, h)
	pub.HandleRaw(http.MethodPost, ocsp.GETPrefix, h)
	for _, l := range auth.SignerLabels() {
		e.useKey(l)
	}
	e.srv.AddCheck(&server.Check{Name: "ocsp_status", Target: "database reads", Probe: server.CheckerFunc(auth.Health),
		Code: server.ReasonDBUnavailable, Degrades: true})
	e.log.Info("ocsp: serving POST /ocsp and GET /ocsp/", "signers", auth.SignerLabels(), "validity", c.Validity,
		"refresh_interval", c.RefreshInterval)
	return nil
}

func ocspConfigured(c *config.Config) error {
	if !c.OCSP.Enabled {
		return fmt.Errorf("ocsp.enabled is false in muhrd.yaml")
	}
	return nil
}
