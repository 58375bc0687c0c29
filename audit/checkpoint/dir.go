package checkpoint

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/muhr-pki/muhr/errkind"
)

// Dir is the append-only directory of checkpoint files
// (checkpoint-00000001.json, ...). A file is written under a temporary name,
// synced, then linked to its final name, which fails if the name exists, so
// no file is ever overwritten and no final name ever holds half a file,
// whatever instant the writer is killed at; the directory is synced after.
type Dir struct{ Path string }

// ErrNotFound is a checkpoint number the directory does not hold.
var ErrNotFound = errkind.New(errkind.NotFound, "audit checkpoint not found")

// tmpPrefix opens the temporary names, which readers ignore.
const tmpPrefix = ".tmp-checkpoint-"

// Numbers lists the checkpoint numbers present, ascending.
func (d Dir) Numbers() ([]int64, error) {
	ents, err := os.ReadDir(d.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint dir: %w", err)
	}
	var out []int64
	for _, e := range ents {
		if n, ok := parseName(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Next is the number the next checkpoint takes.
func (d Dir) Next() (int64, error) {
	ns, err := d.Numbers()
	if err != nil || len(ns) == 0 {
		return 1, err
	}
	return ns[len(ns)-1] + 1, nil
}

// Read returns checkpoint n's bytes.
func (d Dir) Read(n int64) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(d.Path, fileName(n)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: number %d in %s", ErrNotFound, n, d.Path)
	}
	return b, err
}

// Load parses checkpoint n.
func (d Dir) Load(n int64) (*File, error) {
	b, err := d.Read(n)
	if err != nil {
		return nil, err
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fileName(n), err)
	}
	if f.Number != n {
		return nil, fmt.Errorf("%s: %w: it says it is checkpoint %d", fileName(n), ErrInvalid, f.Number)
	}
	return f, nil
}

// Write adds f under its number. It fails, changing nothing, when that
// number is taken.
func (d Dir) Write(f *File) error {
	b, err := f.Marshal()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.Path, 0o750); err != nil {
		return fmt.Errorf("checkpoint dir: %w", err)
	}
	rnd := make([]byte, 6)
	_, _ = rand.Read(rnd)
	tmp := filepath.Join(d.Path, tmpPrefix+hex.EncodeToString(rnd))
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("checkpoint: create %s: %w", tmp, err)
	}
	defer os.Remove(tmp)
	if _, err := fh.Write(b); err != nil {
		fh.Close()
		return fmt.Errorf("checkpoint: write %s: %w", tmp, err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return fmt.Errorf("checkpoint: sync %s: %w", tmp, err)
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("checkpoint: close %s: %w", tmp, err)
	}
	final := filepath.Join(d.Path, fileName(f.Number))
	// link(2), unlike rename(2), refuses an existing target.
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return errkind.Wrap(errkind.Conflict, fmt.Errorf("checkpoint: %s already exists; nothing overwritten", final))
		}
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return syncDir(d.Path)
}

// CleanTemp removes temporary files older than age: what a writer killed
// mid-write leaves behind.
func (d Dir) CleanTemp(now time.Time, age time.Duration) {
	ents, _ := os.ReadDir(d.Path)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > age {
			_ = os.Remove(filepath.Join(d.Path, e.Name()))
		}
	}
}

func syncDir(path string) error {
	dh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("checkpoint: sync dir: %w", err)
	}
	defer dh.Close()
	if err := dh.Sync(); err != nil {
		return fmt.Errorf("checkpoint: sync dir: %w", err)
	}
	return nil
}
