package softhsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Names of the files SoftHSM2 keeps in a token directory.
const (
	TokenObject = "token.object"
	// goodCopy is Muhr's verified copy of token.object, kept beside it. Its
	// name does not end in ".object", so SoftHSM ignores it.
	goodCopy  = "token.object.muhr-good"
	tmpSuffix = ".muhr-tmp"
)

// Vendor attributes of token.object (SoftHSM2 OSAttributes.h).
const (
	vendorSoftHSM = 0x80000000 + 0x5348
	attrLabel     = vendorSoftHSM + 1
	attrSerial    = vendorSoftHSM + 2
	attrFlags     = vendorSoftHSM + 3
	attrSOPIN     = vendorSoftHSM + 4
	attrUserPIN   = vendorSoftHSM + 5
)

// Kinds of attribute values in a SoftHSM2 object file (ObjectFile.h).
const (
	kindBool    = 1
	kindULong   = 2
	kindBytes   = 3
	kindMechSet = 4
	kindAttrMap = 5
)

// TokenFile is what token.object says about a token.
type TokenFile struct {
	Generation uint64
	Label      string // trailing blanks removed
	Serial     string
	Flags      uint64
	HasUserPIN bool
}

// Errors describing a damaged token.object.
var (
	ErrEmpty   = errors.New("is empty (0 bytes)")
	ErrCorrupt = errors.New("is not a complete SoftHSM2 token file")
)

// ParseTokenObject reads token.object's contents the way SoftHSM2 2.6
// writes them: a big-endian 64-bit generation, then (type, kind, value)
// triples to the end of the file. A file that stops inside a value or lacks
// the label, serial, flags or SO PIN is corrupt: SoftHSM would not load it.
func ParseTokenObject(b []byte) (TokenFile, error) {
	if len(b) == 0 {
		return TokenFile{}, ErrEmpty
	}
	r := reader{b: b}
	var tf TokenFile
	tf.Generation = r.u64()
	seen := map[uint64]bool{}
	for r.ok() && !r.done() {
		typ, kind := r.u64(), r.u64()
		var val []byte
		var num uint64
		switch kind {
		case kindBool:
			val = r.bytes(1)
		case kindULong:
			num = r.u64()
		case kindBytes, kindAttrMap:
			val = r.bytes(r.u64())
		case kindMechSet:
			r.bytes(8 * r.u64())
		default:
			r.fail()
		}
		if !r.ok() {
			break
		}
		seen[typ] = true
		switch typ {
		case attrLabel:
			tf.Label = strings.TrimRight(string(val), " ")
		case attrSerial:
			tf.Serial = strings.TrimRight(string(val), " ")
		case attrFlags:
			tf.Flags = num
		case attrUserPIN:
			tf.HasUserPIN = len(val) > 0
		}
	}
	if !r.ok() {
		return TokenFile{}, fmt.Errorf("%w (cut off at byte %d of %d)", ErrCorrupt, r.at, len(b))
	}
	for _, a := range []uint64{attrLabel, attrSerial, attrFlags, attrSOPIN} {
		if !seen[a] {
			return TokenFile{}, fmt.Errorf("%w (attribute %#x missing)", ErrCorrupt, a)
		}
	}
	return tf, nil
}

type reader struct {
	b   []byte
	at  int
	bad bool
}

func (r *reader) ok() bool   { return !r.bad }
func (r *reader) done() bool { return r.at == len(r.b) }
func (r *reader) fail()      { r.bad = true }

func (r *reader) bytes(n uint64) []byte {
	if r.bad || n > uint64(len(r.b)-r.at) {
		r.bad = true
		return nil
	}
	v := r.b[r.at : r.at+int(n)]
	r.at += int(n)
	return v
}

func (r *reader) u64() uint64 {
	v := r.bytes(8)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// Entry is one token directory under the token directory.
type Entry struct {
	Dir  string // full path
	Name string // the directory's name (a UUID)
	// Token is what token.object says; zero when Problem is set.
	Token TokenFile
	// Problem says why token.object cannot be used: missing, ErrEmpty or
	// ErrCorrupt. Nil for a readable token.
	Problem error
	// Size of token.object in bytes (-1 when missing).
	Size int64
	// Good is the verified copy Muhr kept (zero Label if none).
	Good TokenFile
}

// HasGood reports whether a verified copy of token.object is at hand.
func (e Entry) HasGood() bool { return e.Good.Label != "" || e.Good.Serial != "" }

// Scan lists the token directories under tokenDir, in name order, reading
// each token.object and Muhr's copy of it. It skips Muhr's own temporary
// directories. A missing tokenDir is returned as an error wrapping
// fs.ErrNotExist.
func Scan(tokenDir string) ([]Entry, error) {
	des, err := os.ReadDir(tokenDir)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, de := range des {
		if !de.IsDir() || strings.Contains(de.Name(), ".muhr-") {
			continue
		}
		out = append(out, readEntry(filepath.Join(tokenDir, de.Name())))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func readEntry(dir string) Entry {
	e := Entry{Dir: dir, Name: filepath.Base(dir), Size: -1}
	b, err := os.ReadFile(filepath.Join(dir, TokenObject))
	switch {
	case err != nil:
		e.Problem = fmt.Errorf("is unreadable: %w", err)
	default:
		e.Size = int64(len(b))
		e.Token, e.Problem = ParseTokenObject(b)
	}
	if g, err := os.ReadFile(filepath.Join(dir, goodCopy)); err == nil {
		if tf, err := ParseTokenObject(g); err == nil {
			e.Good = tf
		}
	}
	return e
}

// Find returns the entry whose token (or, for a damaged token, whose
// verified copy) is labelled label. ok is false when none is.
func Find(entries []Entry, label string) (Entry, bool) {
	for _, e := range entries {
		if e.Problem == nil && e.Token.Label == label {
			return e, true
		}
	}
	for _, e := range entries {
		if e.Problem != nil && e.Good.Label == label {
			return e, true
		}
	}
	return Entry{}, false
}
