package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/httpx"
	"github.com/muhr-pki/muhr/verify"
)

func validateConfigured(c *config.Config) error {
	if !c.Verify.Enabled {
		return fmt.Errorf("validate.enabled is false in muhrd.yaml")
	}
	return nil
}

// mountValidate serves POST /api/v1/validate on the public listener: the
// center's roots (and validate.trust) are the trust anchors; each
// validation has a timeout and a bounded number run at once.
func mountValidate(ctx context.Context, e *edge) error {
	c := e.cfg.Verify.Effective()
	roots, err := verify.CenterRoots(ctx, e.store)
	if err != nil {
		return err
	}
	for _, p := range c.Trust {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("validate.trust: %w", err)
		}
		cs, err := verify.ParseCertificates(b)
		if err != nil {
			return fmt.Errorf("validate.trust %s: %w", p, err)
		}
		roots = append(roots, cs...)
	}
	v, err := verify.New(verify.Options{Roots: roots, HTTP: &http.Client{}, Timeout: c.FetchTimeout})
	if err != nil {
		return err
	}
	h := verify.NewHandler(v, verify.HandlerOptions{MaxUploadBytes: c.MaxUploadBytes, Timeout: c.Timeout,
		MaxConcurrent: c.MaxConcurrent, Log: e.log})
	// Documents are larger than the listener's default cap
	// (http.max_body_bytes): this route takes validate.max_upload_bytes.
	e.srv.Public().Handle("POST /api/v1/validate", h, httpx.MaxBody(c.MaxUploadBytes))
	e.log.Info("validate: serving POST /api/v1/validate", "trust_anchors", len(roots), "max_upload_bytes", c.MaxUploadBytes,
		"timeout", c.Timeout, "max_concurrent", c.MaxConcurrent)
	return nil
}
