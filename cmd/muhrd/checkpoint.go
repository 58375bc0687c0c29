package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"

	"github.com/muhr-pki/muhr/audit/checkpoint"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/server"
)

// checkpointConfigured keeps the checkpoint role off when checkpoints are
// off or no TSA can timestamp them.
func checkpointConfigured(c *config.Config) error {
	if !c.Audit.Checkpoints {
		return errors.New("audit.checkpoints is false in muhrd.yaml")
	}
	if c.Audit.Interval() == 0 {
		return errors.New("audit.checkpoint_interval is 0 in muhrd.yaml")
	}
	if !c.TSA.Enabled && c.Audit.CheckpointTSAURL == "" {
		return errors.New("no TSA to timestamp checkpoints: enable tsa in this muhrd or set audit.checkpoint_tsa_url")
	}
	return nil
}

// keyMaker is the part of the token the checkpoint key needs beyond
// signing: it is made on first need when the ceremony did not make it.
type keyMaker interface {
	Generate(ctx context.Context, label string, alg hsm.KeyAlgorithm) (crypto.Signer, error)
}

type checkpointKeys struct {
	keyStore
	keyMaker
}

// mountCheckpoint runs the audit checkpoint writer and serves the
// checkpoint directory on the operations listener. The TSA is this
// process's own when the tsa role runs here (mounted before), else the URL
// in audit.checkpoint_tsa_url.
func mountCheckpoint(ctx context.Context, e *edge) error {
	c := e.cfg.Audit
	var ts checkpoint.Timestamper
	switch {
	case e.tsa != nil:
		t := e.tsa
		ts = checkpoint.TimestamperFunc(func(ctx context.Context, req []byte) ([]byte, error) {
			return t.Respond(ctx, req, "muhrd audit checkpoint"), nil
		})
	case c.CheckpointTSAURL != "":
		ts = checkpoint.HTTPTimestamper{URL: c.CheckpointTSAURL}
	default:
		return errors.New("no TSA to timestamp checkpoints: run the tsa role in this muhrd or set audit.checkpoint_tsa_url")
	}
	gen, ok := e.keys.(keyMaker)
	if !ok {
		return errors.New("the token cannot make keys")
	}
	alg, err := hsm.ParseKeyAlgorithm(c.CheckpointKeyAlgorithm)
	if err != nil {
		return fmt.Errorf("audit.checkpoint_key_algorithm: %w", err)
	}
	holder, err := holderID()
	if err != nil {
		return err
	}
	log := e.log.With("role", "checkpoint")
	w := &checkpoint.Writer{Store: e.store, Keys: checkpointKeys{e.keys, gen}, KeyLabel: c.CheckpointKey, KeyAlg: alg,
		TSA: ts, Dir: checkpoint.Dir{Path: c.CheckpointDir}, Interval: c.Interval(), Holder: holder, Actor: "muhrd", Log: log}
	if err := w.Register(e.reg); err != nil {
		return err
	}
	h := checkpoint.Handler{Dir: w.Dir}
	e.srv.Ops().HandleFunc("GET /audit/checkpoints", h.List)
	e.srv.Ops().HandleFunc("GET /audit/checkpoints/{number}", h.One)
	e.srv.AddCheck(&server.Check{Name: "audit_checkpoint", Target: c.CheckpointDir, Probe: server.CheckerFunc(w.Health),
		Code: "checkpoint_failing", Degrades: true})
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(e.svc)
	}()
	e.onClose(func() { <-done })
	log.Info("audit checkpoints: writer started", "interval", c.Interval(), "dir", c.CheckpointDir, "key", c.CheckpointKey,
		"tsa", map[bool]string{true: "in process", false: c.CheckpointTSAURL}[e.tsa != nil], "holder", holder)
	return nil
}
