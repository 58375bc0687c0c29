package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/muhr-pki/muhr/store"
)

// domain opens every record's canonical bytes, so a hash over them cannot be
// confused with a hash over any other structure, and so a future encoding
// can be told apart.
const domain = "muhr-audit-v1"

// HashSize is the length of PrevHash and Hash.
const HashSize = sha256.Size

// Canonical returns the bytes a record's hash covers: the domain tag, then
// seq and time (UnixMicro, UTC) as 8-byte big-endian integers, then actor,
// action, object, details and prev_hash, each prefixed by its length as a
// 4-byte big-endian integer. Length prefixes make the encoding injective: no
// two different records share canonical bytes. Details are taken exactly as
// stored (Append stores them in canonical JSON form).
func Canonical(r store.AuditRecord) []byte {
	var b bytes.Buffer
	field := func(p []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		b.Write(n[:])
		b.Write(p)
	}
	num := func(v int64) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(v))
		b.Write(n[:])
	}
	field([]byte(domain))
	num(r.Seq)
	num(r.Time.UnixMicro())
	field([]byte(r.Actor))
	field([]byte(r.Action))
	field([]byte(r.Object))
	field(r.Details)
	field(r.PrevHash)
	return b.Bytes()
}

// Hash returns SHA-256 of the record's canonical bytes.
func Hash(r store.AuditRecord) []byte {
	h := sha256.Sum256(Canonical(r))
	return h[:]
}

// CanonicalDetails encodes v as compact JSON with object keys sorted, so
// equal details always hash the same. v may be a value to marshal or JSON
// already encoded (json.RawMessage or []byte); nil becomes {}.
func CanonicalDetails(v any) (json.RawMessage, error) {
	var raw []byte
	switch d := v.(type) {
	case nil:
		return json.RawMessage("{}"), nil
	case json.RawMessage:
		raw = d
	case []byte:
		raw = d
	default:
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("audit: details: %w", err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	// Numbers keep their exact spelling instead of passing through float64.
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("audit: details are not JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("audit: details hold more than one JSON value")
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	// encoding/json writes map keys in sorted order.
	if err := enc.Encode(tree); err != nil {
		return nil, fmt.Errorf("audit: details: %w", err)
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}
