// Package raclient is the registration officers' client of the officer API
// (muhrd's ra role): HTTPS with the officer's client certificate, whose key
// is a PEM file or an officer smart card (pkcs11: URI), JSON bodies, one
// timeout on every call, and two error types the CLI turns into exit codes:
// *Refused (the server answered with its JSON error) and *Unreachable (no
// answer: dial, TLS or timeout).
package raclient
