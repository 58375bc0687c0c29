// Package softhsm knows how SoftHSM2 (2.6) keeps its tokens on disk, so that
// Muhr can protect them from SoftHSM's own crash window and back them up.
//
// SoftHSM2's file backend keeps each token in a directory under
// directories.tokendir: token.object (label, serial, flags and the wrapped
// token key under the SO and user PINs), generation, and one <uuid>.object
// per key object. On every successful C_Login it rewrites token.object in
// place: open, fcntl write lock, ftruncate to 0, unlock, then the stdio
// buffer is written at fclose, with no fsync (verified with strace on
// 2.6.1; ObjectFile::writeAttributes and File::unlock in its source). A
// process killed between the truncate and that write leaves token.object
// empty, and a reader in another process that opens it after the unlock and
// before the write sees it empty too: SoftHSM then reports the token as not
// initialised, and without the file the keys cannot be used.
//
// This package provides the pieces Muhr builds its defence from: reading
// softhsm2.conf, parsing token.object, a cross-process lock around every
// operation during which SoftHSM writes (or reads) token.object, a verified
// copy of token.object kept next to it and restored after a crash, and
// verified backups of a whole token directory. It has no cgo and imports
// nothing of Muhr's.
package softhsm

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultConfs are where SoftHSM2 looks when SOFTHSM2_CONF is unset
// (Debian's build first, then upstream's default).
var DefaultConfs = []string{"/etc/softhsm/softhsm2.conf", "/etc/softhsm2.conf"}

// Layout is where one SoftHSM2 configuration keeps its tokens.
type Layout struct {
	Conf     string // the softhsm2.conf it was read from
	TokenDir string // directories.tokendir
	// Files is true for the file object store (the default); the sqlite
	// backend ("db") keeps one database per token and is only locked.
	Files bool
}

// IsModule reports whether a PKCS#11 library path is SoftHSM2's.
func IsModule(path string) bool {
	return strings.Contains(strings.ToLower(filepath.Base(path)), "softhsm")
}

// ConfPath is the softhsm2.conf the library will read in a process whose
// SOFTHSM2_CONF is env: env itself, or the first default that exists.
func ConfPath(env string) string {
	if env != "" {
		return env
	}
	for _, p := range DefaultConfs {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return DefaultConfs[0]
}

// LoadLayout reads directories.tokendir and objectstore.backend from a
// softhsm2.conf, as SoftHSM2 parses it: "key = value" lines, # comments.
func LoadLayout(conf string) (Layout, error) {
	f, err := os.Open(conf)
	if err != nil {
		return Layout{}, fmt.Errorf("softhsm: read %s: %w", conf, err)
	}
	defer f.Close()
	l := Layout{Conf: conf, Files: true}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "directories.tokendir":
			l.TokenDir = strings.TrimSpace(v)
		case "objectstore.backend":
			l.Files = strings.TrimSpace(v) != "db"
		}
	}
	if err := sc.Err(); err != nil {
		return Layout{}, fmt.Errorf("softhsm: read %s: %w", conf, err)
	}
	if l.TokenDir == "" {
		return Layout{}, fmt.Errorf("softhsm: %s has no directories.tokendir", conf)
	}
	if !filepath.IsAbs(l.TokenDir) {
		return Layout{}, fmt.Errorf("softhsm: %s: directories.tokendir %q is not absolute", conf, l.TokenDir)
	}
	l.TokenDir = filepath.Clean(l.TokenDir)
	return l, nil
}

// ErrNotSoftHSM is returned by Detect for other PKCS#11 libraries.
var ErrNotSoftHSM = errors.New("softhsm: module is not SoftHSM2")

// Detect returns the layout of the SoftHSM2 a process with SOFTHSM2_CONF
// env would use through module, or ErrNotSoftHSM.
func Detect(module, env string) (Layout, error) {
	if !IsModule(module) {
		return Layout{}, ErrNotSoftHSM
	}
	return LoadLayout(ConfPath(env))
}
