package ca

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/muhr-pki/muhr/store"
)

// HoldExpiryLeaseName is the lease under which one process makes holds
// past the maximum into revocations.
const HoldExpiryLeaseName = "hold-expiry"

// HoldExpirer runs Revoker.ExpireHolds on a schedule: a suspension
// (certificateHold) older than MaxHold (config revocation.max_hold) becomes
// a revocation. Every muhrd with the ca role runs one; the lease lets one
// of them work at a time (ExpireHolds is safe to race anyway: each hold is
// revoked by exactly one transaction).
type HoldExpirer struct {
	Revoker  *Revoker
	Leases   store.Leases
	MaxHold  time.Duration
	Holder   string
	LeaseTTL time.Duration
	Now      func() time.Time
	Log      *slog.Logger
}

func (h *HoldExpirer) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *HoldExpirer) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Tick takes or renews the lease and, holding it, revokes every hold past
// the maximum. Without the lease it does nothing (nil, nil).
func (h *HoldExpirer) Tick(ctx context.Context) ([]store.StatusChange, error) {
	if h.Revoker == nil || h.Leases == nil || h.MaxHold <= 0 {
		return nil, errors.New("hold expiry: Revoker, Leases and a positive MaxHold are required")
	}
	now := h.now()
	ok, err := h.Leases.AcquireLease(ctx, HoldExpiryLeaseName, h.Holder, now, h.LeaseTTL)
	if err != nil || !ok {
		return nil, err
	}
	ch, err := h.Revoker.ExpireHolds(ctx, now, h.MaxHold)
	for _, c := range ch {
		h.log().Info("hold past the maximum revoked", "ca", c.IssuerID, "serial", c.Serial.Text(16), "max_hold", h.MaxHold)
	}
	return ch, err
}

// Run ticks every interval until ctx ends (the first at once), then gives
// up the lease.
func (h *HoldExpirer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := h.Tick(ctx); err != nil && ctx.Err() == nil {
			h.log().Error("hold expiry failed; retried at the next check", "err", err.Error())
		}
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := h.Leases.ReleaseLease(rctx, HoldExpiryLeaseName, h.Holder); err != nil {
				h.log().Warn("hold expiry: release lease", "err", err.Error())
			}
			cancel()
			return
		case <-t.C:
		}
	}
}
