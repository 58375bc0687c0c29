// Package checkpoint anchors the audit chain outside the database: every
// interval the chain head (record seq and hash, and the time) is signed
// with a key on the token, timestamped by the center's TSA (RFC 3161) and
// written as a self-describing JSON file to an append-only directory.
// Checking the chain against these files catches what the chain alone
// cannot: its newest records deleted, or the whole chain rewritten and
// re-hashed in the database.
//
// A file verifies with openssl alone: the signature over the "signed"
// bytes with the embedded public key (openssl dgst -sha256 -verify), the
// token over the same bytes with openssl ts -verify -data.
package checkpoint

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/errkind"
)

// Format names version 1 of the file and opens its signed bytes.
const Format = "muhr-audit-checkpoint-v1"

// Action is the audit record written for every checkpoint.
const Action = "audit.checkpoint"

// ActionKey is the audit record naming the checkpoint key (its public key
// and id) when it is made, by the ceremony or by muhrd on first need.
const ActionKey = "audit.checkpoint.key"

// File is one checkpoint as written to the directory.
type File struct {
	Format string `json:"format"`
	// Number is the checkpoint's place in the directory (1, 2, ...).
	Number int64 `json:"number"`
	// Seq and Hash name the chain head: the newest record and its SHA-256.
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
	// KeyID is the hex SHA-256 of the public key's SubjectPublicKeyInfo.
	KeyID     string `json:"key_id"`
	KeyLabel  string `json:"key_label"`
	PublicKey string `json:"public_key"` // PEM PUBLIC KEY
	// SignatureAlgorithm is ecdsa-with-SHA256 or sha256WithRSAEncryption.
	SignatureAlgorithm string `json:"signature_algorithm"`
	// Signed is the exact signed bytes (base64); Signature the signature
	// over them (base64 DER for ECDSA); TimestampToken the RFC 3161
	// TimeStampToken (base64 DER) whose imprint is SHA-256 of Signed.
	Signed         string    `json:"signed"`
	Signature      string    `json:"signature"`
	TimestampToken string    `json:"timestamp_token"`
	TSASerial      string    `json:"tsa_serial"`
	TSAGenTime     time.Time `json:"tsa_gen_time"`
}

// Head is the chain head the checkpoint names.
func (f *File) Head() (audit.Head, error) {
	h, err := hex.DecodeString(f.Hash)
	if err != nil || len(h) != audit.HashSize {
		return audit.Head{}, fmt.Errorf("%w: hash %q is not 64 hex digits", ErrInvalid, f.Hash)
	}
	return audit.Head{Seq: f.Seq, Hash: h}, nil
}

// ErrInvalid marks a checkpoint file that is not well formed or does not
// verify.
var ErrInvalid = errkind.New(errkind.Internal, "audit checkpoint does not verify")

// SignedBytes is what the key signs and the TSA timestamps: a short text
// naming the format, the number, the head, the time and the key, one field
// a line, so a reader sees what was vouched for.
func SignedBytes(number, seq int64, hash []byte, at time.Time, keyID string) []byte {
	return fmt.Appendf(nil, "%s\nnumber: %d\nseq: %d\nhash: %x\ntime: %s\nkey: %s\n",
		Format, number, seq, hash, at.UTC().Format(time.RFC3339Nano), keyID)
}

// KeyID is the hex SHA-256 of a public key's DER SubjectPublicKeyInfo.
func KeyID(pub crypto.PublicKey) (string, []byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", nil, fmt.Errorf("checkpoint: public key: %w", err)
	}
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:]), der, nil
}

func signatureAlgorithm(pub crypto.PublicKey) (string, error) {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return "ecdsa-with-SHA256", nil
	case *rsa.PublicKey:
		return "sha256WithRSAEncryption", nil
	}
	return "", fmt.Errorf("checkpoint: key type %T is not ECDSA or RSA", pub)
}

// Marshal is the file's bytes: indented JSON ending in a newline.
func (f *File) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Parse reads a file strictly: unknown fields, trailing data and a wrong
// format are refused, so a cut-off file is reported, not half read.
func Parse(b []byte) (*File, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: not a checkpoint file: %w", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the checkpoint", ErrInvalid)
	}
	if f.Format != Format {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrInvalid, f.Format, Format)
	}
	return &f, nil
}

// decoded is a file's binary fields, checked to agree with each other.
type decoded struct {
	signed, sig, token []byte
	pub                crypto.PublicKey
	head               audit.Head
}

func (f *File) decode() (*decoded, error) {
	var d decoded
	var err error
	if d.head, err = f.Head(); err != nil {
		return nil, err
	}
	b64 := func(field, s string) ([]byte, error) {
		v, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(v) == 0 {
			return nil, fmt.Errorf("%w: %s is not base64", ErrInvalid, field)
		}
		return v, nil
	}
	if d.signed, err = b64("signed", f.Signed); err != nil {
		return nil, err
	}
	if d.sig, err = b64("signature", f.Signature); err != nil {
		return nil, err
	}
	if d.token, err = b64("timestamp_token", f.TimestampToken); err != nil {
		return nil, err
	}
	blk, _ := pem.Decode([]byte(f.PublicKey))
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%w: public_key is not a PEM PUBLIC KEY", ErrInvalid)
	}
	if d.pub, err = x509.ParsePKIXPublicKey(blk.Bytes); err != nil {
		return nil, fmt.Errorf("%w: public_key: %w", ErrInvalid, err)
	}
	id, _, err := KeyID(d.pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if id != f.KeyID {
		return nil, fmt.Errorf("%w: key_id %s is not the SHA-256 of public_key (%s)", ErrInvalid, f.KeyID, id)
	}
	// The JSON fields are a convenience; the signed bytes are what counts,
	// so they must say the same.
	if want := SignedBytes(f.Number, f.Seq, d.head.Hash, f.Time, f.KeyID); !bytes.Equal(want, d.signed) {
		return nil, fmt.Errorf("%w: the signed bytes do not say what the file's fields say (number, seq, hash, time, key_id)", ErrInvalid)
	}
	return &d, nil
}

// verifySignature checks sig over signed with pub (SHA-256).
func verifySignature(pub crypto.PublicKey, signed, sig []byte) error {
	digest := sha256.Sum256(signed)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest[:], sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig)
	}
	return fmt.Errorf("key type %T is not ECDSA or RSA", pub)
}

// fileName is the directory's name for checkpoint n.
func fileName(n int64) string { return fmt.Sprintf("checkpoint-%08d.json", n) }

// parseName returns n for a checkpoint file name.
func parseName(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, "checkpoint-")
	if !ok {
		return 0, false
	}
	digits, ok := strings.CutSuffix(rest, ".json")
	if !ok || len(digits) < 8 {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n <= 0 || fileName(n) != name {
		return 0, false
	}
	return n, true
}
