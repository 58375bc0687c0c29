package ra

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ArgonParams are the Argon2id cost parameters of new passphrase hashes;
// each hash records its own, so raising them later keeps old hashes valid.
type ArgonParams struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
	KeyLen    uint32
	SaltLen   int
}

// DefaultArgon is RFC 9106's second recommended option scaled down for a
// counter service (64 MiB, 3 passes, 2 lanes), about 50-100 ms a hash here.
func DefaultArgon() ArgonParams {
	return ArgonParams{MemoryKiB: 64 * 1024, Time: 3, Threads: 2, KeyLen: 32, SaltLen: 16}
}

var b64 = base64.RawStdEncoding

// HashPassphrase returns the Argon2id hash of pass in PHC string form:
// $argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>.
func HashPassphrase(p ArgonParams, rnd io.Reader, pass string) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := io.ReadFull(rnd, salt); err != nil {
		return "", fmt.Errorf("ra: draw salt: %w", err)
	}
	key := argon2.IDKey([]byte(pass), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassphrase reports whether pass matches a hash HashPassphrase made.
func VerifyPassphrase(encoded, pass string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, fmt.Errorf("ra: passphrase hash is not argon2id PHC")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, fmt.Errorf("ra: passphrase hash version %q", parts[2])
	}
	var m, t uint32
	var th uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &th); err != nil || m == 0 || t == 0 || th == 0 || m > 1<<22 {
		return false, fmt.Errorf("ra: passphrase hash parameters %q", parts[3])
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("ra: passphrase hash salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, fmt.Errorf("ra: passphrase hash: %v", err)
	}
	got := argon2.IDKey([]byte(pass), salt, t, m, th, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
