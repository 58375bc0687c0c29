// Package csr is the issuer's CSR intake: it parses a PKCS#10 certificate
// request strictly, checks that its signature proves possession of the key,
// and refuses keys and signature algorithms the center does not accept
// (STANDARDS.md, "Certificates").
//
// A CSR proves possession of a key and nothing else. Subject and
// extensions come from the registered identity and the profile, so what a
// CSR asks for (CA:TRUE, extra SANs, EKUs) is not refused here; it is
// reported in [Checked] only so the caller can log what was ignored.
//
// Every refusal wraps one of the Err* kinds, so callers branch with
// errors.Is and show the message, which says what to fix.
package csr
