// Package policy holds Muhr's certificate policy as pure functions: the
// registered identities and their subject-name rules, the built-in
// end-entity profiles (qes-person, qseal-org, tls-server, officer,
// ocsp-signer, tsa-unit; see Profiles), the QCStatements encoding, the
// certificate templates the key ceremony signs (root, issuing and
// management CAs, OCSP signer, TSA unit), CRL templates, serial numbers,
// and pre-issuance linting with zlint plus our own lints.
//
// Nothing here does I/O, reads a clock or keeps mutable package state: times,
// serials, keys and URLs come in as parameters so the caller (package ca)
// decides them and tests can fix them. The only randomness used internally is
// for throwaway lint keys, whose signatures are discarded.
package policy
