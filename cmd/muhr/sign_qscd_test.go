package main

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

// muhr sign refuses a key file for a certificate whose QCStatements claim
// QcSSCD (or cannot be read), and accepts it for one without the claim.
func TestClaimsQSCD(t *testing.T) {
	qc := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 3}
	stmts := func(ids ...asn1.ObjectIdentifier) []byte {
		type st struct{ ID asn1.ObjectIdentifier }
		var v []st
		for _, id := range ids {
			v = append(v, st{id})
		}
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	compliance := asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 1}
	for _, c := range []struct {
		name string
		ext  []pkix.Extension
		want bool
	}{
		{"no QCStatements", nil, false},
		{"QcCompliance only", []pkix.Extension{{Id: qc, Value: stmts(compliance)}}, false},
		{"QcSSCD", []pkix.Extension{{Id: qc, Value: stmts(compliance, oidQcSSCD)}}, true},
		{"unreadable", []pkix.Extension{{Id: qc, Value: []byte{0x30, 0x05, 0x01}}}, true},
	} {
		if got := claimsQSCD(&x509.Certificate{Extensions: c.ext}); got != c.want {
			t.Errorf("%s: claimsQSCD = %v, want %v", c.name, got, c.want)
		}
	}
}
