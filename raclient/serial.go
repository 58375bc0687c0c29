package raclient

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/muhr-pki/muhr/errkind"
)

// ParseSerial reads a certificate serial as `openssl x509 -serial` prints
// it (serial=0123ABCD), with or without the prefix, in either case, with
// leading zeros or colons between bytes.
func ParseSerial(s string) (*big.Int, error) {
	v := strings.TrimSpace(s)
	if len(v) >= 7 && strings.EqualFold(v[:7], "serial=") {
		v = v[7:]
	}
	v = strings.ReplaceAll(v, ":", "")
	if len(v) >= 2 && (v[:2] == "0x" || v[:2] == "0X") {
		v = v[2:]
	}
	if v == "" || len(v) > 64 {
		return nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("serial %q: expected hex as `openssl x509 -noout -serial` prints it (e.g. 3F2A9C...), at most 64 digits", s))
	}
	n, ok := new(big.Int).SetString(v, 16)
	if !ok || n.Sign() < 0 {
		return nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("serial %q is not hexadecimal; copy it from `openssl x509 -noout -serial` or `muhr cert list`", s))
	}
	return n, nil
}

// FormatSerial prints a serial as openssl does: upper-case hex, an even
// number of digits.
func FormatSerial(n *big.Int) string {
	h := strings.ToUpper(n.Text(16))
	if len(h)%2 == 1 {
		h = "0" + h
	}
	return h
}

// NormalSerial is ParseSerial then FormatSerial.
func NormalSerial(s string) (string, error) {
	n, err := ParseSerial(s)
	if err != nil {
		return "", err
	}
	return FormatSerial(n), nil
}
