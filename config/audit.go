package config

import (
	"fmt"
	"net/url"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"
)

// Audit configures the audit log's checkpoints: every CheckpointInterval
// the chain head is signed with a key on the token, timestamped by the
// center's TSA and written to CheckpointDir (muhrd role checkpoint).
type Audit struct {
	// Checkpoints turns the checkpoint role on (off by default, like tsa
	// and ocsp: the role logs in to the token).
	Checkpoints bool `yaml:"checkpoints"`
	// CheckpointInterval is how often a checkpoint is written; absent is
	// AuditDefaultCheckpointInterval, 0 turns checkpoints off. Use Interval.
	CheckpointInterval *OffDuration `yaml:"checkpoint_interval"`
	// CheckpointDir is the append-only directory of checkpoint files;
	// default audit-checkpoints beside muhrd.yaml.
	CheckpointDir string `yaml:"checkpoint_dir"`
	// CheckpointKey is the label of the signing key on the token (made by
	// the ceremony, or by muhrd on first need when absent).
	CheckpointKey string `yaml:"checkpoint_key"`
	// CheckpointKeyAlgorithm is used when muhrd makes the key.
	CheckpointKeyAlgorithm string `yaml:"checkpoint_key_algorithm"`
	// CheckpointTSAURL is the center's TSA (…/tsa) when the tsa role does
	// not run in the same process.
	CheckpointTSAURL string `yaml:"checkpoint_tsa_url"`
}

// Audit checkpoint defaults.
const (
	AuditDefaultCheckpointInterval = 10 * time.Minute
	AuditDefaultCheckpointDir      = "audit-checkpoints"
	AuditDefaultCheckpointKey      = "audit-checkpoint"
	AuditDefaultCheckpointKeyAlg   = "ecdsa-p256"
	auditMinCheckpointInterval     = time.Second
)

// Interval is checkpoint_interval with its default; 0 means off.
func (a Audit) Interval() time.Duration {
	if a.CheckpointInterval == nil {
		return AuditDefaultCheckpointInterval
	}
	return time.Duration(*a.CheckpointInterval)
}

// OffDuration is a duration that may also be written as a bare 0 (off).
type OffDuration time.Duration

// UnmarshalYAML takes 0, or a duration such as 10m.
func (d *OffDuration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == "0" {
		*d = 0
		return nil
	}
	var v time.Duration
	if err := n.Decode(&v); err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 10m, or 0 for off)", n.Line, n.Value)
	}
	*d = OffDuration(v)
	return nil
}

func (a *Audit) applyDefaults() {
	if a.CheckpointDir == "" {
		a.CheckpointDir = AuditDefaultCheckpointDir
	}
	if a.CheckpointKey == "" {
		a.CheckpointKey = AuditDefaultCheckpointKey
	}
	if a.CheckpointKeyAlgorithm == "" {
		a.CheckpointKeyAlgorithm = AuditDefaultCheckpointKeyAlg
	}
}

var auditKeyLabel = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func (a *Audit) validate() error {
	if iv := a.Interval(); iv < 0 || (iv > 0 && iv < auditMinCheckpointInterval) {
		return fmt.Errorf("audit.checkpoint_interval: %v must be 0 (off) or at least %v", iv, auditMinCheckpointInterval)
	}
	if !auditKeyLabel.MatchString(a.CheckpointKey) {
		return fmt.Errorf("audit.checkpoint_key: %q must be 1-63 of A-Z a-z 0-9 . _ -", a.CheckpointKey)
	}
	switch a.CheckpointKeyAlgorithm {
	case "ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096":
	default:
		return fmt.Errorf("audit.checkpoint_key_algorithm: %q is not one of ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096", a.CheckpointKeyAlgorithm)
	}
	if a.CheckpointTSAURL != "" {
		u, err := url.Parse(a.CheckpointTSAURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("audit.checkpoint_tsa_url: %q is not an http(s) URL", a.CheckpointTSAURL)
		}
	}
	return nil
}
