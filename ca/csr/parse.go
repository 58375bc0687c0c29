package csr

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
)

// PEM block types accepted: the RFC 7468 label, and the older one that
// Microsoft certreq and some Java tools still write.
const (
	pemType    = "CERTIFICATE REQUEST"
	pemTypeOld = "NEW CERTIFICATE REQUEST"
)

// Parse decodes a CSR given as PEM (one "CERTIFICATE REQUEST" or "NEW
// CERTIFICATE REQUEST" block, surrounding whitespace allowed) or as DER,
// and refuses anything that is not exactly one strictly DER-encoded
// PKCS#10 request. It does not verify the signature or judge the key: that
// is Check's job. Errors wrap ErrMalformed, ErrKeyType or ErrInvalidKey.
func Parse(data []byte) (*x509.CertificateRequest, error) {
	req, _, err := parse(data)
	return req, err
}

func parse(data []byte) (*x509.CertificateRequest, *layout, error) {
	der, err := decode(data)
	if err != nil {
		return nil, nil, err
	}
	lay, err := inspect(der)
	if err != nil {
		return nil, nil, err
	}
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return req, lay, nil
}

// decode returns the DER bytes of data, unwrapping PEM armour.
func decode(data []byte) ([]byte, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes; a CSR is at most %d bytes", ErrMalformed, len(data), MaxSize)
	}
	text := bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(text, []byte("-----BEGIN ")) {
		switch {
		case len(data) == 0:
			return nil, fmt.Errorf("%w: empty input", ErrMalformed)
		case data[0] != 0x30:
			return nil, fmt.Errorf("%w: neither PEM (-----BEGIN %s-----) nor DER (which starts with byte 0x30)", ErrMalformed, pemType)
		}
		return data, nil
	}
	block, rest := pem.Decode(text)
	if block == nil {
		return nil, fmt.Errorf("%w: broken PEM armour (missing END line or invalid base64)", ErrMalformed)
	}
	if block.Type != pemType && block.Type != pemTypeOld {
		return nil, fmt.Errorf("%w: PEM block is %q; expected %q", ErrMalformed, block.Type, pemType)
	}
	if len(block.Headers) > 0 {
		keys := make([]string, 0, len(block.Headers))
		for k := range block.Headers {
			keys = append(keys, k)
		}
		return nil, fmt.Errorf("%w: PEM headers (%s) are not allowed in a CSR", ErrMalformed, strings.Join(keys, ", "))
	}
	if rest = bytes.TrimSpace(rest); len(rest) > 0 {
		if bytes.Contains(rest, []byte("-----BEGIN")) {
			return nil, fmt.Errorf("%w: more than one PEM block; send one CSR", ErrMalformed)
		}
		return nil, fmt.Errorf("%w: %d bytes of trailing data after the PEM block", ErrMalformed, len(rest))
	}
	return block.Bytes, nil
}
