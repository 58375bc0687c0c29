// Package secret reads the files that hold Muhr's secrets (the HSM user
// PIN, the database password): one reader, so every secret file obeys the
// same rules and fails with the same kind of message.
//
// A secret file must be a regular file that only its owner can read or
// write (mode 0600 or 0400: no group or other bits), owned by the user the
// process runs as (or by root), and at most MaxSize bytes. Trailing line
// ends are trimmed (editors add one); an empty secret is refused. The
// secret never appears in an error.
//
// A symbolic link is followed and its target is judged, as opened: the
// checks run on the open descriptor (fstat), so the file checked is the
// file read. Following is deliberate: Kubernetes secret volumes and
// configuration managers publish secrets as links to versioned files,
// and a link adds nothing an attacker who can write the directory could
// not do by replacing a regular file there; the target's owner and mode
// rules still hold, so a link cannot make another user's or a
// world-readable file acceptable.
package secret

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// MaxSize bounds a secret file: PINs and passwords are short, and a bound
// keeps a misconfigured path (a log, a device) from being read whole.
const MaxSize = 4096

// ErrFile is the kind of every refusal; the message names the file, what
// is wrong and the fix.
var ErrFile = errors.New("secret file unusable")

// ReadFile reads the secret held in the file at path.
func ReadFile(path string) ([]byte, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: "+format, append([]any{ErrFile, path}, args...)...)
	}
	if path == "" {
		return nil, fmt.Errorf("%w: no file named", ErrFile)
	}
	// Stat first so a FIFO or a device is refused before open, which
	// could block on it.
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, bad("does not exist")
	case errors.Is(err, os.ErrPermission):
		return nil, bad("permission denied (the file or a directory above it is not readable by this user)")
	case err != nil:
		return nil, bad("%v", err)
	case !fi.Mode().IsRegular():
		return nil, bad("not a regular file (%s); put the secret in a plain file with mode 0600", fileType(fi.Mode()))
	}
	// O_NONBLOCK: if the path was swapped for a FIFO since Stat, open must
	// not hang; the fstat below then refuses it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, bad("permission denied: the file must be readable by the user running muhr")
		}
		return nil, bad("%v", err)
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil {
		return nil, bad("%v", err)
	}
	if err := check(fi, path); err != nil {
		return nil, bad("%v", err)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, bad("%v", err)
	}
	if len(b) > MaxSize {
		clear(b)
		return nil, bad("larger than %d bytes: is this the right file?", MaxSize)
	}
	s := bytes.TrimRight(b, "\r\n")
	if len(s) == 0 {
		return nil, bad("empty")
	}
	return s, nil
}

// check applies the type, mode and owner rules to the opened file.
func check(fi os.FileInfo, path string) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%s)", fileType(fi.Mode()))
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("mode %04o lets group or other users read or change it; run: chmod 600 %s", perm, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := uint32(os.Geteuid()); st.Uid != uid && st.Uid != 0 {
			return fmt.Errorf("owned by uid %d, not by this user (uid %d) or root; run: chown %d %s", st.Uid, uid, uid, path)
		}
	}
	return nil
}

func fileType(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}
