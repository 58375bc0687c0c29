// Package ids holds the rules for the identifiers that cross package and
// process lines: CA ids (in store keys, config, URLs) and dotted OIDs (in
// config files and the ceremony plan). It is part of policy, split out and
// importing only the standard library so that packages which must not link
// zlint (config, server, tsa) apply the very same rule as policy does.
package ids

import (
	"crypto/x509"
	"errors"
	"fmt"
)

// TSABestPractices is the ETSI EN 319 421 best-practices time-stamp
// policy, the TSA's default: here so that config and tsa, which must not
// link zlint, take it from the one place policy takes it from too.
const TSABestPractices = "0.4.0.2023.1.1"

// MaxCALen is the longest CA id.
const MaxCALen = 63

// ErrCAID and ErrOID are the kinds of the refusals.
var (
	ErrCAID = errors.New("bad CA id")
	ErrOID  = errors.New("bad OID")
)

// CheckCA accepts the CA ids Muhr writes into certificate URLs
// (<public_url>/ca/<id>.crt, /crl/<id>.crl) and the repository serves:
// 1 to 63 of a-z, 0-9 and '-', starting with a letter or digit. No dot:
// "qca.2027.crt" would be ambiguous as <id>.<ext>; no upper case: URLs and
// file systems disagree about case; no '_' or '/': they do not survive
// every proxy and path.
func CheckCA(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrCAID)
	}
	if len(id) > MaxCALen {
		return fmt.Errorf("%w: %q is longer than %d characters", ErrCAID, id, MaxCALen)
	}
	if id[0] == '-' {
		return fmt.Errorf("%w: %q starts with '-'", ErrCAID, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("%w: %q: only a-z, 0-9 and '-' are allowed (it is used in URLs)", ErrCAID, id)
		}
	}
	return nil
}

// ParseOID parses a dotted OID and refuses any but its canonical spelling
// ("1.02.3" would be written back as 1.2.3, so a config would not say what
// the certificate holds): first arc 0-2, no empty arcs, no leading zeros.
func ParseOID(s string) (x509.OID, error) {
	o, err := x509.ParseOID(s)
	if err != nil {
		return x509.OID{}, fmt.Errorf("%w: %q is not a dotted OID (e.g. 1.3.6.1.4.1.59999.1.1)", ErrOID, s)
	}
	if o.String() != s {
		return x509.OID{}, fmt.Errorf("%w: %q is not canonical: write %s", ErrOID, s, o)
	}
	return o, nil
}
