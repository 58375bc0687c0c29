package csr

import "fmt"

// MaxSize bounds the input: a CSR with a 4096-bit RSA key and a few names
// is under 8 KiB, and a bound keeps hostile input from costing much.
const MaxSize = 64 << 10

// maxDepth bounds nesting. A CSR nests about eight levels deep (request,
// info, name, RDN set, attribute, value...); the bound keeps the recursive
// walk below cheap on hostile input.
const maxDepth = 24

// checkDER verifies that b is exactly one DER element and that everything
// reachable through constructed encodings is DER as well: definite,
// minimal lengths, low tag numbers, no constructed strings, and canonical
// BOOLEAN, INTEGER, BIT STRING, NULL and OBJECT IDENTIFIER contents.
//
// crypto/x509 signs and verifies the to-be-signed bytes exactly as
// received, and parts of it are lenient about BER, so two encodings of one
// request could both verify. Requiring DER everywhere means there is one
// byte string per request, which is what the audit log records.
//
// Contents of OCTET STRINGs (extension values) and BIT STRINGs (the key,
// the signature) are not walked: extensions are ignored by the issuer,
// and the key is compared with its canonical encoding in Check.
func checkDER(b []byte) error {
	n, err := checkElement(b, 0, 0)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("%w: %d bytes of trailing data after the request (offset %d); send the CSR alone", ErrMalformed, len(b)-n, n)
	}
	return nil
}

// checkElement checks the element at the start of b, found at offset off
// of the whole input (for messages), and returns its encoded length.
func checkElement(b []byte, off, depth int) (int, error) {
	if depth > maxDepth {
		return 0, fmt.Errorf("%w: nesting deeper than %d levels at offset %d", ErrMalformed, maxDepth, off)
	}
	if len(b) < 2 {
		return 0, fmt.Errorf("%w: truncated element header at offset %d", ErrMalformed, off)
	}
	tag := b[0]
	if tag&0x1f == 0x1f {
		return 0, fmt.Errorf("%w: high-tag-number form at offset %d is not used in CSRs", ErrMalformed, off)
	}
	hdr, length, err := readLength(b[1:], off)
	if err != nil {
		return 0, err
	}
	if uint64(len(b)-hdr) < length {
		return 0, fmt.Errorf("%w: element at offset %d claims %d bytes but only %d remain: the CSR is truncated", ErrMalformed, off, length, len(b)-hdr)
	}
	content := b[hdr : hdr+int(length)]
	constructed := tag&0x20 != 0
	if tag&0xc0 == 0 { // universal class: the encoding rules are known
		num := tag & 0x1f
		switch {
		case num == 0:
			return 0, fmt.Errorf("%w: end-of-contents marker at offset %d (BER indefinite length is not DER)", ErrMalformed, off)
		case num == 16 || num == 17: // SEQUENCE, SET
			if !constructed {
				return 0, fmt.Errorf("%w: primitive SEQUENCE/SET at offset %d", ErrMalformed, off)
			}
		case constructed:
			return 0, fmt.Errorf("%w: constructed encoding of universal type %d at offset %d is BER, not DER", ErrMalformed, num, off)
		default:
			if err := checkPrimitive(num, content, off); err != nil {
				return 0, err
			}
		}
	}
	if constructed {
		for pos := 0; pos < len(content); {
			n, err := checkElement(content[pos:], off+hdr+pos, depth+1)
			if err != nil {
				return 0, err
			}
			pos += n
		}
	}
	return hdr + int(length), nil
}

// readLength decodes the length octets at b (b[0] is the first length
// octet) and returns the header size including the tag octet.
func readLength(b []byte, off int) (hdr int, length uint64, err error) {
	first := b[0]
	if first < 0x80 {
		return 2, uint64(first), nil
	}
	if first == 0x80 {
		return 0, 0, fmt.Errorf("%w: indefinite length at offset %d is BER, not DER", ErrMalformed, off)
	}
	n := int(first & 0x7f)
	if n > 4 {
		return 0, 0, fmt.Errorf("%w: %d length octets at offset %d (a CSR is at most %d bytes)", ErrMalformed, n, off, MaxSize)
	}
	if len(b) < 1+n {
		return 0, 0, fmt.Errorf("%w: truncated length at offset %d", ErrMalformed, off)
	}
	if b[1] == 0 {
		return 0, 0, fmt.Errorf("%w: length at offset %d has a leading zero octet (BER, not DER)", ErrMalformed, off)
	}
	for _, c := range b[1 : 1+n] {
		length = length<<8 | uint64(c)
	}
	if length < 0x80 {
		return 0, 0, fmt.Errorf("%w: length %d at offset %d uses the long form (BER, not DER)", ErrMalformed, length, off)
	}
	return 2 + n, length, nil
}

// checkPrimitive applies DER's content rules to the universal types whose
// encoding has more than one BER form.
func checkPrimitive(num byte, c []byte, off int) error {
	bad := func(what string) error {
		return fmt.Errorf("%w: %s at offset %d is not DER", ErrMalformed, what, off)
	}
	switch num {
	case 1: // BOOLEAN
		if len(c) != 1 || (c[0] != 0 && c[0] != 0xff) {
			return bad("BOOLEAN")
		}
	case 2, 10: // INTEGER, ENUMERATED
		if len(c) == 0 {
			return bad("empty INTEGER")
		}
		if len(c) > 1 && ((c[0] == 0 && c[1]&0x80 == 0) || (c[0] == 0xff && c[1]&0x80 != 0)) {
			return bad("non-minimal INTEGER")
		}
	case 3: // BIT STRING
		if len(c) == 0 || c[0] > 7 || (len(c) == 1 && c[0] != 0) {
			return bad("BIT STRING")
		}
		if unused := c[0]; unused > 0 && c[len(c)-1]&(1<<unused-1) != 0 {
			return bad("BIT STRING with non-zero padding bits")
		}
	case 5: // NULL
		if len(c) != 0 {
			return bad("NULL")
		}
	case 6: // OBJECT IDENTIFIER
		if len(c) == 0 || c[len(c)-1]&0x80 != 0 {
			return bad("OBJECT IDENTIFIER")
		}
		start := true
		for _, x := range c {
			if start && x == 0x80 {
				return bad("OBJECT IDENTIFIER with a padded sub-identifier")
			}
			start = x&0x80 == 0
		}
	}
	return nil
}
