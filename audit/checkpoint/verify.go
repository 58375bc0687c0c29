package checkpoint

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
)

// Trust is what a checkpoint's timestamp must chain to: the center's root
// CA certificates, and the CAs in between.
type Trust struct {
	Roots         *x509.CertPool
	Intermediates *x509.CertPool
	// Key, when set, is the only checkpoint key accepted (its KeyID).
	Key string
}

// Verified is what a checkpoint's timestamp says.
type Verified struct {
	GenTime time.Time
	Serial  string // the token's serial, hex
	TSA     string // the TSA unit certificate's subject
}

// Verify checks one checkpoint file on its own: its fields agree with its
// signed bytes, the signature verifies with its public key, and its
// timestamp token is over SHA-256 of the signed bytes, signed by a TSA
// certificate (timeStamping) that chains to t's roots at the token's time.
func Verify(f *File, t Trust) (Verified, error) {
	d, err := f.decode()
	if err != nil {
		return Verified{}, err
	}
	if t.Key != "" && f.KeyID != t.Key {
		return Verified{}, fmt.Errorf("%w: signed with key %s, not the expected checkpoint key %s", ErrInvalid, f.KeyID, t.Key)
	}
	if err := verifySignature(d.pub, d.signed, d.sig); err != nil {
		return Verified{}, fmt.Errorf("%w: signature: %w", ErrInvalid, err)
	}
	return verifyToken(d.token, d.signed, t)
}

// verifyToken checks an RFC 3161 TimeStampToken over signed.
func verifyToken(token, signed []byte, t Trust) (Verified, error) {
	ts, err := timestamp.Parse(token)
	if err != nil {
		return Verified{}, fmt.Errorf("%w: timestamp token: %w", ErrInvalid, err)
	}
	if len(ts.Certificates) == 0 {
		return Verified{}, fmt.Errorf("%w: timestamp token holds no TSA certificate", ErrInvalid)
	}
	want := sha256.Sum256(signed)
	if ts.HashAlgorithm != crypto.SHA256 || !bytes.Equal(ts.HashedMessage, want[:]) {
		return Verified{}, fmt.Errorf("%w: timestamp token is not over SHA-256 of the signed bytes", ErrInvalid)
	}
	if t.Roots == nil {
		return Verified{}, fmt.Errorf("%w: no root CA to check the timestamp against", ErrInvalid)
	}
	p7, err := pkcs7.Parse(token)
	if err != nil {
		return Verified{}, fmt.Errorf("%w: timestamp token: %w", ErrInvalid, err)
	}
	inter := t.Intermediates
	if inter == nil {
		inter = x509.NewCertPool()
	}
	err = p7.VerifyWithOpts(x509.VerifyOptions{Roots: t.Roots, Intermediates: inter, CurrentTime: ts.Time,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}})
	if err != nil {
		return Verified{}, fmt.Errorf("%w: timestamp token does not chain to the center's root: %w", ErrInvalid, err)
	}
	v := Verified{GenTime: ts.Time, Serial: ts.SerialNumber.Text(16)}
	if s := p7.GetOnlySigner(); s != nil {
		v.TSA = s.Subject.String()
	}
	return v, nil
}
