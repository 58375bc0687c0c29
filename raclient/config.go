package raclient

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/muhr-pki/muhr/internal/keyref"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/muhr-pki/muhr/errkind"
)

// Config is an officer's config file (API.md, "Officer config file").
type Config struct {
	Server   string        `yaml:"server"`
	CABundle string        `yaml:"ca_bundle"`
	Cert     string        `yaml:"cert"`
	Key      string        `yaml:"key"`
	Module   string        `yaml:"module,omitempty"`
	PINFile  string        `yaml:"pin_file,omitempty"`
	Timeout  time.Duration `yaml:"timeout,omitempty"`

	// Path is the file the config was read from (not a YAML key).
	Path string `yaml:"-"`
}

// DefaultTimeout bounds each call when the config names none.
const DefaultTimeout = 30 * time.Second

// ConfigEnv is the environment variable naming the officer config.
const ConfigEnv = "MUHR_CONFIG"

// ConfigPath picks the officer config: the --config flag, else
// $MUHR_CONFIG, else ~/.config/muhr/config.yaml under home. It also says
// where the choice came from, for messages.
func ConfigPath(flag, env, home string) (path, from string) {
	switch {
	case flag != "":
		return flag, "--config"
	case env != "":
		return env, "$" + ConfigEnv
	}
	return filepath.Join(home, ".config", "muhr", "config.yaml"), "the default location"
}

// LoadConfig reads and checks an officer config. Unknown keys are errors
// (a typo must not silently drop a setting); relative paths are taken
// from the config file's directory. Every error is errkind.Invalid.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Config{}, errkind.Wrap(errkind.Invalid, fmt.Errorf("officer config %s does not exist; give --config FILE or set $%s (the admin gives each officer one)", path, ConfigEnv))
		}
		return Config{}, errkind.Wrap(errkind.Invalid, fmt.Errorf("officer config: %w", err))
	}
	c, err := ParseConfig(b, filepath.Dir(path))
	if err != nil {
		return Config{}, errkind.Wrap(errkind.Invalid, fmt.Errorf("officer config %s: %w", path, err))
	}
	c.Path = path
	return c, nil
}

// ParseConfig parses config YAML; relative paths are joined to dir.
func ParseConfig(b []byte, dir string) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return Config{}, errors.New("empty file")
		}
		return Config{}, err
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"server", c.Server}, {"ca_bundle", c.CABundle}, {"cert", c.Cert}, {"key", c.Key}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return Config{}, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	u, err := url.Parse(c.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return Config{}, fmt.Errorf("server %q must be an https:// URL (the officer API, e.g. https://127.0.0.1:8443)", c.Server)
	}
	if c.Timeout < 0 {
		return Config{}, fmt.Errorf("timeout %s is negative", c.Timeout)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	c.Server = strings.TrimRight(c.Server, "/")
	c.CABundle = resolve(dir, c.CABundle)
	c.Cert = resolve(dir, c.Cert)
	c.Module = resolve(dir, c.Module)
	c.PINFile = resolve(dir, c.PINFile)
	if keyref.IsPKCS11URI(c.Key) {
		if _, err := keyref.ParsePKCS11URI(c.Key); err != nil {
			return Config{}, fmt.Errorf("key: %w", err)
		}
	} else {
		c.Key = resolve(dir, c.Key)
		if c.Module != "" || c.PINFile != "" {
			return Config{}, errors.New("module and pin_file are for a pkcs11: key; key is a file")
		}
	}
	return c, nil
}

// resolve makes p absolute against dir and expands a leading ~/.
func resolve(dir, p string) string {
	if p == "" {
		return ""
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	if filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}
