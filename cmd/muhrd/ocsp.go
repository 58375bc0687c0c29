package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/httpx"
	"github.com/muhr-pki/muhr/ocsp"
	"github.com/muhr-pki/muhr/server"
	"github.com/muhr-pki/muhr/store"
)

// mountOCSP builds the responder from ocsp: in muhrd.yaml: every issuing
// CA with a delegated OCSP signer, the signers' keys from the token. It
// mounts POST /ocsp and GET /ocsp/<base64> (a raw-path route, so "//" in
// the base64 is not redirected) on the public listener, starts the
// refresher on the services' context, and adds a health check per CA of
// the key it signs with now (a renewed one once reloaded) and one that
// degrades while the database is away (the cache keeps
// answering).
// It follows the store's status feed, so a revocation committed by any
// process reaches the next answer within one poll (statusPoll).
func mountOCSP(ctx context.Context, e *edge) error {
	c := e.cfg.OCSP
	// The feed's head before anything is read: a change committed while the
	// cache loads is then invalidated once more, never missed.
	head, err := e.store.LatestStatusChangeSeq(ctx)
	if err != nil {
		return fmt.Errorf("ocsp: status feed: %w", err)
	}
	auth, err := ocsp.New(ctx, ocsp.Options{Store: e.store, Keys: e.keys, Validity: c.Validity, RefreshRate: c.RefreshRate,
		MaxUnissued: c.UnissuedCache, SignTimeout: e.cfg.HSM.SignTimeout, Registry: e.reg, Log: e.log})
	if err != nil {
		return err
	}
	go auth.Run(e.svc, c.RefreshInterval)
	go auth.Follow(e.svc, statusFeed(e.store), head, statusPoll)
	h := ocsp.NewResponder(auth, e.log)
	pub := e.srv.Public()
	// OCSP requests are small whatever http.max_body_bytes says.
	pub.Handle("POST /ocsp", h, httpx.MaxBody(ocsp.MaxRequestBytes))
	pub.HandleRaw(http.MethodGet, ocsp.GETPrefix, h)
	pub.HandleRaw(http.MethodPost, ocsp.GETPrefix, h, httpx.MaxBody(ocsp.MaxRequestBytes))
	for _, chk := range ocspSignerChecks(auth, e.probeKey) {
		e.srv.AddCheck(chk)
	}
	e.keysIn = append(e.keysIn, auth.SignerLabels()...) // for the start-up log
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

// statusPoll is how often the responder asks the store for status
// changes: a revocation is visible in OCSP within about this long.
const statusPoll = 250 * time.Millisecond

// statusFeed adapts the store's status-change feed to the responder's.
func statusFeed(st interface {
	StatusChangesAfter(ctx context.Context, seq int64, limit int) ([]store.StatusChange, error)
}) ocsp.ChangeFeed {
	return func(ctx context.Context, after int64, limit int) ([]ocsp.Change, error) {
		page, err := st.StatusChangesAfter(ctx, after, limit)
		if err != nil {
			return nil, err
		}
		out := make([]ocsp.Change, len(page))
		for i, c := range page {
			out[i] = ocsp.Change{Seq: c.Seq, IssuerID: c.IssuerID, Serial: c.Serial}
		}
		return out, nil
	}
}
