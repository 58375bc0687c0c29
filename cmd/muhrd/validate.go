package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/httpx"
	"github.com/muhr-pki/muhr/verify"
)

// answerWrite is the time left to write a validation's answer (a JSON
// report of a few KiB) after the validation's own timeout.
const answerWrite = 10 * time.Second

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
		MaxConcurrent: c.MaxConcurrent, MinUploadRate: c.MinUploadRate, Log: e.log})
	// Documents are larger than the listener's default cap
	// (http.max_body_bytes): this route takes validate.max_upload_bytes.
	// and more time than http.read_timeout/write_timeout to arrive and be
	// answered: the upload, then the validation and the writing of its
	// answer.
	e.srv.Public().Handle("POST /api/v1/validate", httpx.LongUpload(h, c.UploadTimeout, c.Timeout+answerWrite),
		httpx.MaxBody(c.MaxUploadBytes))
	e.log.Info("validate: serving POST /api/v1/validate", "trust_anchors", len(roots), "max_upload_bytes", c.MaxUploadBytes,
		"upload_timeout", c.UploadTimeout,
		"timeout", c.Timeout, "max_concurrent", c.MaxConcurrent)
	return nil
}
