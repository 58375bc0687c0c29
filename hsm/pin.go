package hsm

import (
	"bytes"
	"fmt"
	"os"
)

// ReadPINFile reads a PIN from a file that only its owner may read (mode 0400
// or 0600). The PIN itself never appears in an error.
func ReadPINFile(path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no pin_file configured", ErrPINFile)
	}
	fi, err := os.Stat(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%w: %s does not exist", ErrPINFile, path)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrPINFile, path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrPINFile, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; other users can read it, run: chmod 600 %s", ErrPINFile, path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrPINFile, path, err)
	}
	pin := bytes.TrimRight(b, "\r\n")
	if len(pin) == 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrPINFile, path)
	}
	return pin, nil
}
