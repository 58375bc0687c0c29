package config

import "time"

// Validate configures the validate role: POST /api/v1/validate on the
// public listener.
type Validate struct {
	Enabled bool `yaml:"enabled"`
	// MaxUploadBytes bounds one request (signature, content, certificate
	// together); over it the answer is 413. It replaces the public
	// listener's http.max_body_bytes for this route.
	MaxUploadBytes int64 `yaml:"max_upload_bytes"`
	// UploadTimeout is how long one request's body may take to arrive, in
	// place of http.read_timeout (10 s) for this route: 16 MiB in 10 s
	// needs 13 Mbit/s, which an office link often lacks. Default 2m.
	UploadTimeout time.Duration `yaml:"upload_timeout"`
	// MinUploadRate (bytes/s, default 65536) is the slowest average a body
	// may arrive at after its first 10 s; slower gets 408, so a client
	// trickling bytes does not hold a validation slot for UploadTimeout.
	MinUploadRate int64 `yaml:"min_upload_rate"`
	// Timeout bounds one validation, its OCSP/CRL/AIA fetches included;
	// it starts once the upload is in.
	Timeout time.Duration `yaml:"timeout"`
	// FetchTimeout bounds each fetch.
	FetchTimeout time.Duration `yaml:"fetch_timeout"`
	// MaxConcurrent validations run at once; more wait briefly, then get 503.
	MaxConcurrent int `yaml:"max_concurrent"`
	// Trust are PEM files of trust anchors beside the center's roots.
	Trust []string `yaml:"trust"`
}

// Effective is v with defaults for what is unset.
func (v Validate) Effective() Validate {
	if v.MaxUploadBytes <= 0 {
		v.MaxUploadBytes = 16 << 20
	}
	if v.UploadTimeout <= 0 {
		v.UploadTimeout = 2 * time.Minute
	}
	if v.MinUploadRate <= 0 {
		v.MinUploadRate = 64 << 10
	}
	if v.Timeout <= 0 {
		v.Timeout = 30 * time.Second
	}
	if v.FetchTimeout <= 0 {
		v.FetchTimeout = 5 * time.Second
	}
	if v.MaxConcurrent <= 0 {
		v.MaxConcurrent = 8
	}
	return v
}
