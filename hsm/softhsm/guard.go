package softhsm

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Healed names a token.object that Heal put back from Muhr's copy.
type Healed struct {
	Dir     string
	Label   string
	Problem error // what was wrong with token.object
}

// Heal restores, from Muhr's verified copy, every token.object under
// tokenDir that is missing, empty or cut short, which is what a process
// killed during SoftHSM's rewrite at login leaves. The caller must hold the
// Lock, so that no muhr process is in the middle of such a rewrite.
//
// Login changes nothing in token.object but the generation counter and the
// CKF_USER_PIN_COUNT_LOW flag (SoftHSM Token::loginUser), so the pre-login
// copy loses nothing: the PIN blobs, label and serial are the same, and key
// objects live in their own files, which login does not touch.
func Heal(tokenDir string) ([]Healed, error) {
	entries, err := Scan(tokenDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("softhsm: list %s: %w", tokenDir, err)
	}
	var out []Healed
	for _, e := range entries {
		if e.Problem == nil || !e.HasGood() {
			continue
		}
		good, err := os.ReadFile(filepath.Join(e.Dir, goodCopy))
		if err != nil {
			return out, fmt.Errorf("softhsm: read %s: %w", filepath.Join(e.Dir, goodCopy), err)
		}
		if _, err := ParseTokenObject(good); err != nil {
			continue // readEntry saw it whole a moment ago; leave it for the diagnosis
		}
		if err := writeAtomic(filepath.Join(e.Dir, TokenObject), good, 0o600); err != nil {
			return out, fmt.Errorf("softhsm: restore %s: %w", filepath.Join(e.Dir, TokenObject), err)
		}
		out = append(out, Healed{Dir: e.Dir, Label: e.Good.Label, Problem: e.Problem})
	}
	return out, nil
}

// Preserve keeps a verified copy of dir's token.object beside it, for Heal.
// It copies only a file that parses, never replaces a copy with a damaged
// file, and skips the write when only the generation counter (its first 8
// bytes) changed, so that a login normally costs no extra disk write.
func Preserve(dir string) error {
	cur, err := os.ReadFile(filepath.Join(dir, TokenObject))
	if err != nil {
		return fmt.Errorf("softhsm: read %s: %w", filepath.Join(dir, TokenObject), err)
	}
	if _, err := ParseTokenObject(cur); err != nil {
		return fmt.Errorf("softhsm: %s %w", filepath.Join(dir, TokenObject), err)
	}
	if old, err := os.ReadFile(filepath.Join(dir, goodCopy)); err == nil &&
		len(old) == len(cur) && bytes.Equal(old[8:], cur[8:]) {
		return nil
	}
	return writeAtomic(filepath.Join(dir, goodCopy), cur, 0o600)
}

// writeAtomic replaces path with b: a temporary file beside it, fsynced,
// renamed over path, and the directory fsynced, so that a crash (or power
// loss) leaves either the old file or the new one, never a part.
func writeAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// DamageError explains why SoftHSM2 does not show a token: the token
// directory or the token's token.object is missing or damaged.
type DamageError struct {
	Label    string
	TokenDir string
	// Dir is the damaged token's directory; empty when the whole tokenDir
	// is missing or no directory can be tied to the label.
	Dir     string
	Problem error
	// Guessed is set when Dir is the only damaged token and its label is
	// unreadable, so it is probably, not certainly, this one.
	Guessed bool
	// Damaged lists the other token directories whose token.object is
	// unusable and whose label is therefore unknown.
	Damaged []Entry
}

func (e *DamageError) Error() string {
	var b strings.Builder
	switch {
	case e.Dir == "" && len(e.Damaged) == 0 && errors.Is(e.Problem, fs.ErrNotExist):
		fmt.Fprintf(&b, "SoftHSM2 token directory %s is missing (directories.tokendir in softhsm2.conf)", e.TokenDir)
	case e.Dir != "" && e.Guessed:
		fmt.Fprintf(&b, "no readable token is labelled %q; the only damaged token, in %s, is probably it: its %s %v", e.Label, e.Dir, TokenObject, e.Problem)
	case e.Dir != "":
		fmt.Fprintf(&b, "token %q is in %s, but its %s %v", e.Label, e.Dir, TokenObject, e.Problem)
	default:
		fmt.Fprintf(&b, "no directory under %s holds a token labelled %q", e.TokenDir, e.Label)
		for _, d := range e.Damaged {
			fmt.Fprintf(&b, "; %s %v", filepath.Join(d.Dir, TokenObject), d.Problem)
		}
	}
	if e.Dir != "" || len(e.Damaged) > 0 {
		b.WriteString(": SoftHSM2 rewrites token.object in place at every login without fsync, and a process killed during that rewrite leaves it empty; SoftHSM then reports the token as not initialised")
	}
	return b.String()
}

func (e *DamageError) Unwrap() error { return e.Problem }

// Diagnose says why no usable token labelled label is in tokenDir: the
// directory is missing, or token.object of the token (or of the only
// token whose label is unreadable) is damaged. It returns nil when the
// files show no damage (the label is simply wrong, or SoftHSM's failure has
// another cause).
func Diagnose(tokenDir, label string) error {
	entries, err := Scan(tokenDir)
	if err != nil {
		return &DamageError{Label: label, TokenDir: tokenDir, Problem: err}
	}
	if e, ok := Find(entries, label); ok {
		if e.Problem == nil {
			return nil
		}
		return &DamageError{Label: label, TokenDir: tokenDir, Dir: e.Dir, Problem: e.Problem}
	}
	d := &DamageError{Label: label, TokenDir: tokenDir, Problem: fmt.Errorf("no token labelled %q", label)}
	for _, e := range entries {
		if e.Problem != nil {
			d.Damaged = append(d.Damaged, e)
		}
	}
	if len(d.Damaged) == 0 {
		return nil // simply no such token: SoftHSM's own answer says it all
	}
	if len(d.Damaged) == 1 {
		// One damaged token of unknown label: most likely this one.
		d.Dir, d.Problem, d.Damaged, d.Guessed = d.Damaged[0].Dir, d.Damaged[0].Problem, nil, true
	}
	return d
}
