package softhsm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ManifestName is the file in a backup that lists what it holds.
const ManifestName = "manifest.json"

// BackupFormat identifies the manifest's layout.
const BackupFormat = "muhr-softhsm2-token-backup/1"

// Manifest describes a backup of one SoftHSM2 token directory.
type Manifest struct {
	Format  string    `json:"format"`
	Created time.Time `json:"created"`
	Label   string    `json:"token_label"`
	Serial  string    `json:"token_serial"`
	// Dir is the token directory's name under directories.tokendir; the
	// backup keeps its files under the same name.
	Dir    string    `json:"token_dir"`
	Source string    `json:"source"`
	Files  []FileSum `json:"files"`
}

// FileSum is one file of a backup.
type FileSum struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Errors a caller of Restore may branch on.
var (
	ErrOtherToken = errors.New("softhsm: backup is of another token")
	ErrBadBackup  = errors.New("softhsm: backup does not verify")
)

// Backup copies the token labelled label from tokenDir into a new
// directory out (mode 0700, files 0600) with a manifest holding the
// SHA-256 of every file, while holding the Lock so that no muhr process
// rewrites token.object meanwhile, then verifies the copy. out must not
// exist; it appears only once complete and verified.
func Backup(ctx context.Context, tokenDir, label, out string) (Manifest, error) {
	if _, err := os.Lstat(out); err == nil {
		return Manifest{}, fmt.Errorf("softhsm: backup target %s already exists", out)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return Manifest{}, err
	}
	lock, err := Acquire(ctx, tokenDir)
	if err != nil {
		return Manifest{}, err
	}
	m, tmp, err := copyOut(tokenDir, label, out)
	lock.Unlock()
	if err != nil {
		if tmp != "" {
			_ = os.RemoveAll(tmp)
		}
		return Manifest{}, err
	}
	if _, err := Verify(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return Manifest{}, fmt.Errorf("softhsm: the backup just written does not verify: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		_ = os.RemoveAll(tmp)
		return Manifest{}, err
	}
	return m, syncDir(filepath.Dir(out))
}

func copyOut(tokenDir, label, out string) (Manifest, string, error) {
	entries, err := Scan(tokenDir)
	if err != nil {
		return Manifest{}, "", fmt.Errorf("softhsm: list %s: %w", tokenDir, err)
	}
	e, ok := Find(entries, label)
	if !ok {
		if d := Diagnose(tokenDir, label); d != nil {
			return Manifest{}, "", fmt.Errorf("softhsm: not backing up token %q: %w; restore it first", label, d)
		}
		return Manifest{}, "", fmt.Errorf("softhsm: no token labelled %q in %s", label, tokenDir)
	}
	if e.Problem != nil {
		return Manifest{}, "", fmt.Errorf("softhsm: not backing up token %q: %s %v; restore it first", label, filepath.Join(e.Dir, TokenObject), e.Problem)
	}
	tmp := fmt.Sprintf("%s.muhr-tmp-%d", out, os.Getpid())
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, e.Name), 0o700); err != nil {
		return Manifest{}, "", err
	}
	sums, err := copyTree(e.Dir, filepath.Join(tmp, e.Name))
	if err != nil {
		return Manifest{}, tmp, err
	}
	m := Manifest{Format: BackupFormat, Created: time.Now().UTC().Truncate(time.Second), Label: e.Token.Label,
		Serial: e.Token.Serial, Dir: e.Name, Source: e.Dir, Files: sums}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, tmp, err
	}
	if err := writeAtomic(filepath.Join(tmp, ManifestName), append(b, '\n'), 0o600); err != nil {
		return Manifest{}, tmp, err
	}
	return m, tmp, syncDir(tmp)
}

// tokenFile reports the files of a token directory that belong to SoftHSM
// (not Muhr's copy or temporaries).
func tokenFile(name string) bool {
	return name != goodCopy && !strings.HasSuffix(name, tmpSuffix)
}

// copyTree copies the regular files of src into the existing dst, fsyncing
// each, and returns their sums in name order.
func copyTree(src, dst string) ([]FileSum, error) {
	des, err := os.ReadDir(src)
	if err != nil {
		return nil, err
	}
	var sums []FileSum
	for _, de := range des {
		if !de.Type().IsRegular() || !tokenFile(de.Name()) {
			continue
		}
		s, err := copyFile(filepath.Join(src, de.Name()), filepath.Join(dst, de.Name()))
		if err != nil {
			return nil, err
		}
		sums = append(sums, s)
	}
	sort.Slice(sums, func(i, j int) bool { return sums[i].Name < sums[j].Name })
	return sums, syncDir(dst)
}

func copyFile(src, dst string) (FileSum, error) {
	in, err := os.Open(src)
	if err != nil {
		return FileSum{}, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return FileSum{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return FileSum{}, fmt.Errorf("copy %s: %w", src, err)
	}
	return FileSum{Name: filepath.Base(src), Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// Verify checks a backup directory: the manifest's format, that its token
// directory holds exactly the files listed with those sizes and SHA-256
// sums, and that its token.object is a whole token file of the label and
// serial the manifest names.
func Verify(dir string) (Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return Manifest{}, fmt.Errorf("%w: %w", ErrBadBackup, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("%w: %s: %w", ErrBadBackup, filepath.Join(dir, ManifestName), err)
	}
	if m.Format != BackupFormat {
		return Manifest{}, fmt.Errorf("%w: %s: format %q, want %q", ErrBadBackup, filepath.Join(dir, ManifestName), m.Format, BackupFormat)
	}
	if m.Dir == "" || m.Dir != filepath.Base(m.Dir) || strings.HasPrefix(m.Dir, ".") {
		return Manifest{}, fmt.Errorf("%w: token_dir %q is not a plain directory name", ErrBadBackup, m.Dir)
	}
	if err := checkFiles(filepath.Join(dir, m.Dir), m.Files); err != nil {
		return Manifest{}, err
	}
	tb, err := os.ReadFile(filepath.Join(dir, m.Dir, TokenObject))
	if err != nil {
		return Manifest{}, fmt.Errorf("%w: %w", ErrBadBackup, err)
	}
	tf, err := ParseTokenObject(tb)
	if err != nil {
		return Manifest{}, fmt.Errorf("%w: its %s %w", ErrBadBackup, TokenObject, err)
	}
	if tf.Label != m.Label || tf.Serial != m.Serial {
		return Manifest{}, fmt.Errorf("%w: its token.object is token %q serial %s, the manifest says %q serial %s",
			ErrBadBackup, tf.Label, tf.Serial, m.Label, m.Serial)
	}
	return m, nil
}

// checkFiles compares dir's regular files with sums, exactly.
func checkFiles(dir string, sums []FileSum) error {
	want := map[string]FileSum{}
	for _, s := range sums {
		if s.Name != filepath.Base(s.Name) || strings.HasPrefix(s.Name, ".") {
			return fmt.Errorf("%w: file name %q", ErrBadBackup, s.Name)
		}
		want[s.Name] = s
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadBackup, err)
	}
	seen := 0
	for _, de := range des {
		if !tokenFile(de.Name()) {
			continue
		}
		s, ok := want[de.Name()]
		if !ok || !de.Type().IsRegular() {
			return fmt.Errorf("%w: %s is not in the manifest", ErrBadBackup, filepath.Join(dir, de.Name()))
		}
		got, err := sumFile(filepath.Join(dir, de.Name()))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadBackup, err)
		}
		if got.Size != s.Size || got.SHA256 != s.SHA256 {
			return fmt.Errorf("%w: %s has SHA-256 %s (%d bytes), the manifest says %s (%d bytes)",
				ErrBadBackup, filepath.Join(dir, de.Name()), got.SHA256, got.Size, s.SHA256, s.Size)
		}
		seen++
	}
	if seen != len(want) {
		return fmt.Errorf("%w: %s holds %d of the %d files the manifest lists", ErrBadBackup, dir, seen, len(want))
	}
	return nil
}

func sumFile(path string) (FileSum, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileSum{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return FileSum{}, err
	}
	return FileSum{Name: filepath.Base(path), Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// RestoreOptions are the choices a restore leaves to its operator.
type RestoreOptions struct {
	// OtherToken allows a backup whose label differs from the one asked
	// for, or whose serial differs from the intact token it replaces.
	OtherToken bool
	// Aside is where the token directory being replaced is copied first
	// (required when one exists): nothing on the token is ever discarded.
	Aside string
}

// Restored says what Restore did.
type Restored struct {
	Manifest Manifest
	Dir      string // the token directory written
	Replaced string // the state it replaced, now copied to Aside ("" if none)
}

// Restore puts the token directory of a verified backup back under
// tokenDir, holding the Lock. It refuses a backup of another label or of
// another serial than the intact token it would replace unless
// opts.OtherToken, and always refuses when another directory holds a token
// with the backup's label (SoftHSM would then show two). The directory it
// replaces is first copied to opts.Aside.
func Restore(ctx context.Context, tokenDir, label, from string, opts RestoreOptions) (Restored, error) {
	m, err := Verify(from)
	if err != nil {
		return Restored{}, err
	}
	if m.Label != label && !opts.OtherToken {
		return Restored{}, fmt.Errorf("%w: %s holds token %q, not %q", ErrOtherToken, from, m.Label, label)
	}
	if err := os.MkdirAll(tokenDir, 0o700); err != nil {
		return Restored{}, err
	}
	lock, err := Acquire(ctx, tokenDir)
	if err != nil {
		return Restored{}, err
	}
	defer lock.Unlock()
	entries, err := Scan(tokenDir)
	if err != nil {
		return Restored{}, err
	}
	var current *Entry
	for i, e := range entries {
		if e.Name == m.Dir {
			current = &entries[i]
			continue
		}
		if e.Problem == nil && e.Token.Label == m.Label {
			return Restored{}, fmt.Errorf("softhsm: %s already holds a token labelled %q (serial %s); SoftHSM would show two: move it out of %s first",
				e.Dir, m.Label, e.Token.Serial, tokenDir)
		}
	}
	res := Restored{Manifest: m, Dir: filepath.Join(tokenDir, m.Dir)}
	if current != nil {
		if current.Problem == nil && current.Token.Serial != m.Serial && !opts.OtherToken {
			return Restored{}, fmt.Errorf("%w: %s holds token %q serial %s, the backup serial %s",
				ErrOtherToken, current.Dir, current.Token.Label, current.Token.Serial, m.Serial)
		}
		if opts.Aside == "" {
			return Restored{}, errors.New("softhsm: restore over an existing token directory needs a place to copy it aside")
		}
		if err := os.MkdirAll(opts.Aside, 0o700); err != nil {
			return Restored{}, err
		}
		if _, err := copyTree(current.Dir, opts.Aside); err != nil {
			return Restored{}, fmt.Errorf("softhsm: copy %s aside to %s: %w", current.Dir, opts.Aside, err)
		}
		res.Replaced = opts.Aside
	}
	tmp := filepath.Join(tokenDir, m.Dir+".muhr-tmp")
	_ = os.RemoveAll(tmp)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return Restored{}, err
	}
	if _, err := copyTree(filepath.Join(from, m.Dir), tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return Restored{}, err
	}
	if err := checkFiles(tmp, m.Files); err != nil {
		_ = os.RemoveAll(tmp)
		return Restored{}, err
	}
	if current != nil {
		old := filepath.Join(tokenDir, m.Dir+".muhr-old")
		_ = os.RemoveAll(old)
		if err := os.Rename(current.Dir, old); err != nil {
			_ = os.RemoveAll(tmp)
			return Restored{}, err
		}
		defer os.RemoveAll(old) // already copied aside
	}
	if err := os.Rename(tmp, res.Dir); err != nil {
		return Restored{}, err
	}
	if err := syncDir(tokenDir); err != nil {
		return Restored{}, err
	}
	return res, nil
}

// Latest returns the newest backup directory (by name, as written by
// Muhr: token-<UTC time>) under dir that holds a manifest, or "".
func Latest(dir string) string {
	des, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	best := ""
	for _, de := range des {
		if !de.IsDir() || !strings.HasPrefix(de.Name(), "token-") || strings.Contains(de.Name(), ".muhr-") {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, de.Name(), ManifestName)); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if de.Name() > best {
			best = de.Name()
		}
	}
	if best == "" {
		return ""
	}
	return filepath.Join(dir, best)
}

// BackupName is the directory name Muhr gives a backup made at t.
func BackupName(t time.Time) string {
	return "token-" + t.UTC().Format("20060102T150405Z")
}
