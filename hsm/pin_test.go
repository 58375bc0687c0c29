package hsm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadPINFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "pin")
	if err := os.WriteFile(good, []byte("s3cret-pin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pin, err := ReadPINFile(good)
	if err != nil || string(pin) != "s3cret-pin" {
		t.Fatalf("ReadPINFile = %q, %v", pin, err)
	}

	open := filepath.Join(dir, "open")
	if err := os.WriteFile(open, []byte("leaky-pin"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadPINFile(open)
	if !errors.Is(err, ErrPINFile) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable PIN file: err = %v", err)
	}
	if strings.Contains(err.Error(), "leaky-pin") {
		t.Fatalf("error shows the PIN: %v", err)
	}

	_, err = ReadPINFile(filepath.Join(dir, "missing"))
	if !errors.Is(err, ErrPINFile) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing PIN file: err = %v", err)
	}

	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPINFile(empty); !errors.Is(err, ErrPINFile) {
		t.Fatalf("empty PIN file: err = %v", err)
	}
}

func TestParseKeyAlgorithm(t *testing.T) {
	for _, a := range Algorithms {
		got, err := ParseKeyAlgorithm(strings.ToUpper(string(a)))
		if err != nil || got != a {
			t.Fatalf("ParseKeyAlgorithm(%s) = %v, %v", a, got, err)
		}
	}
	if _, err := ParseKeyAlgorithm("dsa-1024"); err == nil {
		t.Fatal("dsa-1024 accepted")
	}
}
