package policy

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"sort"
	"strings"
	"sync"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"
)

// ErrLint is the kind of a refusal by the pre-issuance linter.
var ErrLint = newError("invalid", "certificate lint failed")

// Finding is one warning, error or fatal result of one lint.
type Finding struct {
	Lint     string // zlint's name, e.g. "e_sub_ca_aia_missing"
	Source   string // e.g. "RFC5280", "ETSI_ESI", "CABF_BR"
	Status   string // "warn", "error" or "fatal"
	Details  string
	Accepted string // why the profile accepts this finding; empty if it does not
}

func (f Finding) String() string {
	s := f.Status + " " + f.Lint + " (" + f.Source + ")"
	if f.Details != "" {
		s += ": " + f.Details
	}
	return s
}

// Result is what the linter found for one certificate or CRL. Passes,
// notices and not-applicable lints are left out.
type Result struct {
	Kind     Kind
	Findings []Finding
}

// Problems returns the findings the profile does not accept.
func (r Result) Problems() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Accepted == "" {
			out = append(out, f)
		}
	}
	return out
}

// Err returns a *LintError holding every unaccepted finding (errors.Is
// ErrLint), or nil: the issuer refuses to sign when it is not nil.
func (r Result) Err() error {
	p := r.Problems()
	if len(p) == 0 {
		return nil
	}
	return &LintError{Kind: r.Kind, Findings: p}
}

// LintError is a refusal by the pre-issuance linter. It carries the
// findings themselves, so an officer's screen or an API answer can list
// them (lint name, severity, details) without parsing the message; get it
// with errors.As.
type LintError struct {
	Kind     Kind
	Findings []Finding // the unaccepted ones, sorted by lint name
}

func (e *LintError) Error() string {
	msgs := make([]string, len(e.Findings))
	for i, f := range e.Findings {
		msgs[i] = f.String()
	}
	return fmt.Sprintf("%v for %s: %s", ErrLint, e.Kind, strings.Join(msgs, "; "))
}

// Is makes errors.Is(err, ErrLint) hold for a *LintError.
func (e *LintError) Is(target error) bool { return target == ErrLint }

// ErrorKind: a certificate that fails lint is refused as invalid input.
func (e *LintError) ErrorKind() string { return "invalid" }

// Linter runs zlint with the registry each Kind calls for. It keeps the
// filtered registries and one throwaway key per key type, so pre-issuance
// linting does not generate an RSA key per certificate. Safe for
// concurrent use; the zero value is ready to use.
type Linter struct {
	mu         sync.Mutex
	registries map[Kind]lint.Registry
	keys       map[string]crypto.Signer
}

// NewLinter returns an empty Linter; registries and keys are made on first use.
func NewLinter() *Linter { return &Linter{} }

// Lint parses a DER certificate and lints it as kind, using a fresh Linter.
func Lint(der []byte, kind Kind) (Result, error) { return NewLinter().Lint(der, kind) }

// Lint parses a DER certificate and lints it as kind. The error is for a
// certificate that does not parse or an unknown kind; lint findings are in
// the Result (see Result.Err).
func (l *Linter) Lint(der []byte, kind Kind) (Result, error) {
	return l.lint(der, kind, false)
}

// lint is Lint; throwawaySelfSigned says der is a self-signed template
// signed by a throwaway key. zcrypto decides "self-signed" by checking the
// signature against the certificate's own key, which fails then, and zlint
// would lint the root as a subordinate CA.
func (l *Linter) lint(der []byte, kind Kind, throwawaySelfSigned bool) (Result, error) {
	prof, err := profileFor(kind)
	if err != nil {
		return Result{}, err
	}
	if prof.crl {
		return Result{}, fmt.Errorf("lint: %s is a CRL profile, use LintCRL", kind)
	}
	// Go's parser is the stricter one and the one our own code uses: a
	// certificate it refuses must never be issued.
	gc, err := x509.ParseCertificate(der)
	if err != nil {
		return Result{}, fmt.Errorf("lint: crypto/x509 cannot parse the certificate: %w", err)
	}
	zc, err := zx509.ParseCertificate(der)
	if err != nil {
		return Result{}, fmt.Errorf("lint: zcrypto cannot parse the certificate: %w", err)
	}
	if throwawaySelfSigned && string(zc.RawSubject) == string(zc.RawIssuer) {
		zc.SelfSigned = true
	}
	reg, err := l.registry(kind, prof)
	if err != nil {
		return Result{}, err
	}
	res := collect(kind, prof, zlint.LintCertificateEx(zc, reg))
	if prof.endEntity {
		res.Findings = append(res.Findings, ownLints(kind, gc)...)
		sortFindings(res.Findings)
	}
	return res, nil
}

// LintCRL parses a DER CRL and lints it with the CRL profile.
func (l *Linter) LintCRL(der []byte) (Result, error) {
	prof, err := profileFor(KindCRL)
	if err != nil {
		return Result{}, err
	}
	if _, err := x509.ParseRevocationList(der); err != nil {
		return Result{}, fmt.Errorf("lint: crypto/x509 cannot parse the CRL: %w", err)
	}
	zr, err := zx509.ParseRevocationList(der)
	if err != nil {
		return Result{}, fmt.Errorf("lint: zcrypto cannot parse the CRL: %w", err)
	}
	reg, err := l.registry(KindCRL, prof)
	if err != nil {
		return Result{}, err
	}
	return collect(KindCRL, prof, zlint.LintRevocationListEx(zr, reg)), nil
}

func (l *Linter) registry(kind Kind, prof lintProfile) (lint.Registry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.registries[kind]; ok {
		return r, nil
	}
	r, err := lint.GlobalRegistry().Filter(lint.FilterOptions{
		IncludeSources: prof.sources,
		ExcludeNames:   prof.excludedNames(),
	})
	if err != nil {
		return nil, fmt.Errorf("lint registry for %s: %w", kind, err)
	}
	if l.registries == nil {
		l.registries = map[Kind]lint.Registry{}
	}
	l.registries[kind] = r
	return r, nil
}

// collect keeps warnings, errors and fatals, marking the accepted ones.
func collect(kind Kind, prof lintProfile, rs *zlint.ResultSet) Result {
	res := Result{Kind: kind}
	for name, r := range rs.Results {
		var status string
		switch r.Status {
		case lint.Warn:
			status = "warn"
		case lint.Error:
			status = "error"
		case lint.Fatal:
			status = "fatal"
		default:
			continue
		}
		f := Finding{Lint: name, Source: string(r.LintMetadata.Source), Status: status, Details: r.Details}
		// Only warnings can be accepted: an error or fatal always stops issuance.
		if status == "warn" {
			f.Accepted = prof.accepted(name)
		}
		res.Findings = append(res.Findings, f)
	}
	sortFindings(res.Findings)
	return res
}

func sortFindings(fs []Finding) {
	sort.Slice(fs, func(i, j int) bool { return fs[i].Lint < fs[j].Lint })
}
