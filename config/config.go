// Package config holds muhrd's typed configuration and the strict YAML
// decoder every Muhr config file goes through (unknown keys are an error that
// names the key and its line). Secrets are never in a config: it names files.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is muhrd.yaml.
type Config struct {
	// Listen is the public HTTP address (OCSP, TSA, repository, health).
	Listen string `yaml:"listen"`
	// OpsListen is the operations listener (metrics, detailed health):
	// absent is DefaultOpsListen, "" disables it. Use OpsAddr.
	OpsListen *string `yaml:"ops_listen"`
	// Roles are what muhrd serves when --roles is not given (ca, ra,
	// ocsp, tsa, repository); empty is every role that is built.
	Roles []string `yaml:"roles"`
	// PublicURL is the base URL written into AIA, OCSP and CRL URLs.
	PublicURL string   `yaml:"public_url"`
	Log       Log      `yaml:"log"`
	Database  Database `yaml:"database"`
	HSM       HSM      `yaml:"hsm"`
	HTTP      HTTP     `yaml:"http"`
	TSA       TSA      `yaml:"tsa"`
	OCSP      OCSP     `yaml:"ocsp"`
	Issuance  Issuance `yaml:"issuance"`
	CRL       CRL      `yaml:"crl"`
	Audit     Audit    `yaml:"audit"`
	// AdminListen is the officer API (mTLS; ra role); see AdminAddr.
	AdminListen string   `yaml:"admin_listen"`
	RA          RA       `yaml:"ra"`
	Verify      Validate `yaml:"validate"`
	// Revocation: hold maximum and OCSP signer renewal (config/revocation.go).
	Revocation Revocation `yaml:"revocation"`
	// Runtime tunes the Go runtime of muhrd (not of the muhr CLI).
	Runtime Runtime `yaml:"runtime"`
}

// Runtime tunes the Go runtime.
type Runtime struct {
	// GCHeapFloorBytes: the collector lets the heap grow to this size
	// before it collects, however small the live heap (internal/gcfloor);
	// 0 is the default, 64 MiB; negative turns the floor off (plain GOGC).
	GCHeapFloorBytes int64 `yaml:"gc_heap_floor_bytes"`
	// GOMAXPROCS: 0 (the default) lets muhrd choose: Go's own value plus
	// hsm.sessions when a role signs on the token, as a goroutine in a
	// PKCS#11 call holds its P (cmd/muhrd/procs.go); unless the GOMAXPROCS
	// environment variable is set, which then wins. A positive value is
	// used as is; -1 keeps Go's own.
	GOMAXPROCS int `yaml:"gomaxprocs"`
}

// DefaultGCHeapFloor is Runtime.GCHeapFloorBytes when unset.
const DefaultGCHeapFloor = 64 << 20

// Log configures log/slog.
type Log struct {
	Level string `yaml:"level"` // debug, info, warn, error
}

// Database names the store.
type Database struct {
	Driver string `yaml:"driver"` // sqlite or postgres
	// Path is the SQLite database file.
	Path string `yaml:"path"`
	// DSN is the PostgreSQL connection string without a password.
	DSN string `yaml:"dsn"`
	// PasswordFile holds the PostgreSQL password, if one is needed.
	PasswordFile string `yaml:"password_file"`
}

// HSM names the PKCS#11 token.
type HSM struct {
	Module     string `yaml:"module"`
	TokenLabel string `yaml:"token_label"`
	PINFile    string `yaml:"pin_file"`
	Sessions   int    `yaml:"sessions"`
	// SignTimeout bounds one signature by a CA key; a signature not made in
	// time fails the issuance (its serial is burned, the request can be
	// retried). Default 10s.
	SignTimeout time.Duration `yaml:"sign_timeout"`
	// SoftHSM2Conf, for SoftHSM2 only, is the softhsm2.conf naming the token
	// directory; set so that every muhr command finds the demo token without
	// SOFTHSM2_CONF in the environment.
	SoftHSM2Conf string `yaml:"softhsm2_conf"`
}

// HTTP sets the server limits.
type HTTP struct {
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
	MaxHeaderBytes    int           `yaml:"max_header_bytes"`
	MaxBodyBytes      int64         `yaml:"max_body_bytes"`
}

// DecodeStrict decodes one YAML document into v, refusing unknown keys.
// name is used in error messages (usually the file path).
func DecodeStrict(name string, r io.Reader, v any) error {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: empty configuration", name)
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s: %s", name, strings.Join(te.Errors, "; "))
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// LoadStrict reads the YAML file at path into v.
func LoadStrict(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	return DecodeStrict(path, bytes.NewReader(b), v)
}

// Load reads muhrd.yaml, applies defaults, resolves relative file paths
// against the config file's directory and validates the result.
func Load(path string) (*Config, error) {
	var c Config
	if err := LoadStrict(path, &c); err != nil {
		return nil, err
	}
	c.applyDefaults()
	c.resolvePaths(filepath.Dir(path))
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// DefaultOpsListen is the operations listener when ops_listen is absent:
// loopback only, as metrics and health details are for the operators.
const DefaultOpsListen = "127.0.0.1:9090"

// OpsAddr is the operations listener's address; "" means none.
func (c *Config) OpsAddr() string {
	if c.OpsListen == nil {
		return DefaultOpsListen
	}
	return *c.OpsListen
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.OpsListen == nil {
		def := DefaultOpsListen
		c.OpsListen = &def
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Database.Driver == "" {
		c.Database.Driver = "sqlite"
	}
	if c.HSM.Sessions == 0 {
		c.HSM.Sessions = 4
	}
	if c.HSM.SignTimeout == 0 {
		c.HSM.SignTimeout = 10 * time.Second
	}
	h := &c.HTTP
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&h.ReadHeaderTimeout, 5*time.Second)
	def(&h.ReadTimeout, 10*time.Second)
	def(&h.WriteTimeout, 30*time.Second)
	def(&h.IdleTimeout, 120*time.Second)
	def(&h.ShutdownTimeout, 15*time.Second)
	if h.MaxHeaderBytes == 0 {
		h.MaxHeaderBytes = 16 << 10
	}
	if h.MaxBodyBytes == 0 {
		h.MaxBodyBytes = 64 << 10
	}
	if c.Runtime.GCHeapFloorBytes == 0 {
		c.Runtime.GCHeapFloorBytes = DefaultGCHeapFloor
	}
	c.TSA.applyDefaults()
	c.OCSP.applyDefaults()
	c.Audit.applyDefaults()
}

// ResolvePath makes p absolute relative to dir (p is returned as is when it
// is empty or already absolute).
func ResolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func (c *Config) resolvePaths(dir string) {
	c.Database.Path = ResolvePath(dir, c.Database.Path)
	c.Database.PasswordFile = ResolvePath(dir, c.Database.PasswordFile)
	c.HSM.PINFile = ResolvePath(dir, c.HSM.PINFile)
	c.HSM.SoftHSM2Conf = ResolvePath(dir, c.HSM.SoftHSM2Conf)
	c.Audit.CheckpointDir = ResolvePath(dir, c.Audit.CheckpointDir)
	c.RA.EvidenceDir = ResolvePath(dir, c.RA.EvidenceDir)
	// A bare module name (libsofthsm2.so) is left for dlopen's search path.
	if strings.Contains(c.HSM.Module, "/") {
		c.HSM.Module = ResolvePath(dir, c.HSM.Module)
	}
}

// Validate reports the first setting that cannot work, naming its key.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not host:port", c.Listen)
	}
	if ops := c.OpsAddr(); ops != "" {
		_, port, err := net.SplitHostPort(ops)
		if err != nil {
			return fmt.Errorf("ops_listen: %q is not host:port (\"\" disables the operations listener)", ops)
		}
		if ops == c.Listen && port != "0" {
			return fmt.Errorf("ops_listen: %q is the public listen address; the operations listener needs its own", ops)
		}
	}
	for i, r := range c.Roles {
		if strings.TrimSpace(r) == "" {
			return fmt.Errorf("roles[%d]: empty role name", i)
		}
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("public_url: %q is not an http(s) URL", c.PublicURL)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Database.Driver {
	case "sqlite":
		if c.Database.Path == "" {
			return errors.New("database.path: required for driver sqlite")
		}
	case "postgres":
		if c.Database.DSN == "" {
			return errors.New("database.dsn: required for driver postgres")
		}
		if strings.Contains(strings.ToLower(c.Database.DSN), "password") {
			return errors.New("database.dsn: must not hold a password; use database.password_file")
		}
	default:
		return fmt.Errorf("database.driver: %q is not sqlite or postgres", c.Database.Driver)
	}
	if c.HSM.Module == "" {
		return errors.New("hsm.module: required (path of the PKCS#11 library)")
	}
	if c.HSM.TokenLabel == "" {
		return errors.New("hsm.token_label: required")
	}
	if c.HSM.PINFile == "" {
		return errors.New("hsm.pin_file: required (a file holding the user PIN, mode 0600)")
	}
	if c.Runtime.GOMAXPROCS < -1 || c.Runtime.GOMAXPROCS > 4096 {
		return fmt.Errorf("runtime.gomaxprocs: %d is outside -1..4096 (0: muhrd chooses, -1: Go's own)", c.Runtime.GOMAXPROCS)
	}
	if c.HSM.Sessions < 1 || c.HSM.Sessions > 256 {
		return fmt.Errorf("hsm.sessions: %d is outside 1..256", c.HSM.Sessions)
	}
	if c.HSM.SignTimeout <= 0 || c.HSM.SignTimeout > 5*time.Minute {
		return fmt.Errorf("hsm.sign_timeout: %v is outside (0, 5m]", c.HSM.SignTimeout)
	}
	if err := c.Issuance.validate(); err != nil {
		return err
	}
	if err := c.OCSP.validate(); err != nil {
		return err
	}
	if err := c.Audit.validate(); err != nil {
		return err
	}
	return c.TSA.validate()
}
