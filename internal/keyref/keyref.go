// Package keyref reads what a --key or key: setting names: a PKCS#11 URI
// (RFC 7512) of a key on a token, or an unencrypted PEM private key file's
// contents. Officer configs (raclient) and `muhr sign` share it, so both
// refuse the same URIs.
package keyref

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// PKCS11URI is the part of an RFC 7512 URI that names a key on a token
// (an officer's or subscriber's card, a departmental HSM): the token's label, the key's label and, optionally, the
// token's serial, the module and a file holding the PIN.
type PKCS11URI struct {
	Token     string // token= (CKA_LABEL of the token)
	Object    string // object= (CKA_LABEL of the private key)
	Serial    string // serial= (token serial), checked when given
	Module    string // ?module-path=
	PINSource string // ?pin-source= (a file path or file: URI)
}

// IsPKCS11URI says whether a key setting is a pkcs11: URI rather than a file.
func IsPKCS11URI(s string) bool { return strings.HasPrefix(strings.ToLower(s), "pkcs11:") }

// ParsePKCS11URI parses s. It refuses pin-value (a PIN is never written
// in a config or typed in a flag) and attributes it does not understand,
// since ignoring one could select another key than the one meant.
func ParsePKCS11URI(s string) (PKCS11URI, error) {
	if !IsPKCS11URI(s) {
		return PKCS11URI{}, fmt.Errorf("%q is not a pkcs11: URI", s)
	}
	rest := s[len("pkcs11:"):]
	path, query, _ := strings.Cut(rest, "?")
	var u PKCS11URI
	for _, part := range splitNonEmpty(path, ";") {
		k, v, err := attr(part)
		if err != nil {
			return PKCS11URI{}, err
		}
		switch k {
		case "token":
			u.Token = v
		case "object":
			u.Object = v
		case "serial":
			u.Serial = v
		case "type":
			if v != "private" {
				return PKCS11URI{}, fmt.Errorf("pkcs11 URI: type=%s; the key must be type=private", v)
			}
		default:
			return PKCS11URI{}, fmt.Errorf("pkcs11 URI: attribute %q is not supported (use token=, object=, serial=)", k)
		}
	}
	for _, part := range splitNonEmpty(query, "&") {
		k, v, err := attr(part)
		if err != nil {
			return PKCS11URI{}, err
		}
		switch k {
		case "module-path":
			u.Module = v
		case "pin-source":
			u.PINSource = strings.TrimPrefix(v, "file:")
		case "pin-value":
			return PKCS11URI{}, errors.New("pkcs11 URI: pin-value is refused; put the PIN in a file (pin_file, mode 0600) or let muhr prompt for it")
		default:
			return PKCS11URI{}, fmt.Errorf("pkcs11 URI: query attribute %q is not supported (use module-path=, pin-source=)", k)
		}
	}
	if u.Token == "" || u.Object == "" {
		return PKCS11URI{}, fmt.Errorf("pkcs11 URI %q must name token= and object= (the card's label and the key's label)", s)
	}
	return u, nil
}

func splitNonEmpty(s, sep string) []string {
	var out []string
	for _, p := range strings.Split(s, sep) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func attr(part string) (string, string, error) {
	k, v, ok := strings.Cut(part, "=")
	if !ok {
		return "", "", fmt.Errorf("pkcs11 URI: %q is not name=value", part)
	}
	dv, err := url.PathUnescape(v)
	if err != nil {
		return "", "", fmt.Errorf("pkcs11 URI: %s: %w", k, err)
	}
	return strings.ToLower(k), dv, nil
}

// ParseKeyPEM parses an unencrypted PKCS#8, SEC 1 or PKCS#1 PEM private key.
func ParseKeyPEM(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("not a PEM private key")
	}
	var k any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", blk.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T cannot sign", k)
	}
	return s, nil
}
