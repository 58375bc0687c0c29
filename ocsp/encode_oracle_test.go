package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"
)

// The encoding/asn1 encoder the hand-written one in encode.go replaced,
// kept as its oracle.

type asnResponse struct {
	Status asn1.Enumerated
	Bytes  asnResponseBytes `asn1:"explicit,tag:0"`
}

type asnResponseBytes struct {
	Type     asn1.ObjectIdentifier
	Response []byte
}

type asnBasic struct {
	TBS       asn1.RawValue
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
	Certs     []asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

type asnResponseData struct {
	ResponderKeyHash []byte    `asn1:"explicit,tag:2"`
	ProducedAt       time.Time `asn1:"generalized"`
	Responses        []asnSingleResponse
	Extensions       []pkix.Extension `asn1:"explicit,tag:1,optional"`
}

type asnSingleResponse struct {
	CertID     asnCertID
	Status     asn1.RawValue
	ThisUpdate time.Time        `asn1:"generalized"`
	NextUpdate time.Time        `asn1:"generalized,explicit,tag:0"`
	Extensions []pkix.Extension `asn1:"explicit,tag:1,optional"`
}

type asnRevokedInfo struct {
	Time   time.Time       `asn1:"generalized"`
	Reason asn1.Enumerated `asn1:"explicit,tag:0,optional"`
}

// referenceTBS is the ResponseData as encoding/asn1 writes it.
func referenceTBS(s *signer, answers []single, produced, thisUpdate, nextUpdate, archiveCutoff time.Time, nonce []byte) ([]byte, error) {
	rd := asnResponseData{ResponderKeyHash: s.keyHash, ProducedAt: produced.UTC().Truncate(time.Second)}
	cutoff, err := asn1.MarshalWithParams(archiveCutoff.UTC().Truncate(time.Second), "generalized")
	if err != nil {
		return nil, err
	}
	unissued := false
	for _, a := range answers {
		sr := asnSingleResponse{
			CertID:     asnCertID{Hash: hashAlg(a.id.Hash), NameHash: a.id.NameHash, KeyHash: a.id.KeyHash, Serial: a.id.Serial},
			ThisUpdate: thisUpdate.UTC().Truncate(time.Second), NextUpdate: nextUpdate.UTC().Truncate(time.Second),
			Extensions: []pkix.Extension{{Id: oidArchive, Value: cutoff}},
		}
		switch a.status {
		case Good:
			sr.Status = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0}
		case Revoked:
			ri := asnRevokedInfo{Time: a.revokedAt.UTC().Truncate(time.Second)}
			if a.reason >= 0 {
				ri.Reason = asn1.Enumerated(a.reason)
			}
			b, err := marshalRevoked(ri, a.reason >= 0)
			if err != nil {
				return nil, err
			}
			sr.Status = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: b}
		default:
			return nil, fmt.Errorf("ocsp: status %d", a.status)
		}
		unissued = unissued || a.unissued
		rd.Responses = append(rd.Responses, sr)
	}
	if unissued {
		rd.Extensions = append(rd.Extensions, pkix.Extension{Id: oidExtRevoke, Value: asn1.NullBytes})
	}
	if nonce != nil {
		v, err := asn1.Marshal(nonce)
		if err != nil {
			return nil, err
		}
		rd.Extensions = append(rd.Extensions, pkix.Extension{Id: oidNonce, Value: v})
	}
	return asn1.Marshal(rd)
}

// referenceAssemble is the OCSPResponse around tbs and sig as
// encoding/asn1 writes it.
func referenceAssemble(s *signer, tbs, sig []byte) ([]byte, error) {
	basic, err := asn1.Marshal(asnBasic{TBS: asn1.RawValue{FullBytes: tbs}, Algorithm: s.alg,
		Signature: asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}, Certs: []asn1.RawValue{{FullBytes: s.certDER}}})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(asnResponse{Status: asn1.Enumerated(Successful), Bytes: asnResponseBytes{Type: oidBasic, Response: basic}})
}

// marshalRevoked encodes RevokedInfo's contents (the [1] IMPLICIT tag is
// put on by the caller).
func marshalRevoked(ri asnRevokedInfo, withReason bool) ([]byte, error) {
	var full []byte
	var err error
	if withReason {
		full, err = asn1.Marshal(ri)
	} else {
		full, err = asn1.Marshal(struct {
			Time time.Time `asn1:"generalized"`
		}{ri.Time})
	}
	if err != nil {
		return nil, err
	}
	var rv asn1.RawValue
	if _, err := asn1.Unmarshal(full, &rv); err != nil {
		return nil, err
	}
	return rv.Bytes, nil
}

func hashAlg(h crypto.Hash) pkix.AlgorithmIdentifier {
	if h == crypto.SHA256 {
		return pkix.AlgorithmIdentifier{Algorithm: oidSHA256, Parameters: asn1.NullRawValue}
	}
	return pkix.AlgorithmIdentifier{Algorithm: oidSHA1, Parameters: asn1.NullRawValue}
}

// testSigner is an OCSP signer with an in-memory key (encoding does not
// depend on where the key lives; the token signs in the other tests).
func testSigner(t testing.TB, key crypto.Signer) *signer {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "oracle OCSP signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSigner(key, cert)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func oracleID(h crypto.Hash, serial *big.Int) CertID {
	n, k := bytes.Repeat([]byte{0x11}, h.Size()), bytes.Repeat([]byte{0xa2}, h.Size())
	return CertID{Hash: h, NameHash: n, KeyHash: k, Serial: serial}
}

// The hand-written encoder writes exactly what encoding/asn1 wrote, for
// every shape of answer, and the result parses and verifies with
// x/crypto/ocsp.
func TestEncoderMatchesReference(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signers := map[string]*signer{"p256": testSigner(t, ec), "p384": testSigner(t, ec384), "rsa": testSigner(t, rk)}

	revokedAt := time.Date(2025, 3, 4, 5, 6, 7, 890, time.FixedZone("TJT", 5*3600))
	big1 := new(big.Int).Lsh(big.NewInt(1), 159) // high bit set: a 0x00 pad
	good := single{id: oracleID(crypto.SHA1, big.NewInt(0x1234)), status: Good, reason: -1}
	revReason := single{id: oracleID(crypto.SHA1, big1), status: Revoked, revokedAt: revokedAt, reason: 1}
	revNoReason := single{id: oracleID(crypto.SHA256, big.NewInt(1)), status: Revoked, revokedAt: revokedAt, reason: -1}
	revZero := single{id: oracleID(crypto.SHA1, big.NewInt(2)), status: Revoked, revokedAt: revokedAt, reason: 0}
	hold := single{id: oracleID(crypto.SHA1, big.NewInt(3)), status: Revoked, revokedAt: revokedAt, reason: ReasonCertificateHold}
	unissued := single{id: oracleID(crypto.SHA256, big.NewInt(0)), status: Revoked, revokedAt: unissuedRevokedAt,
		reason: ReasonCertificateHold, unissued: true}
	var many []single
	for i := range MaxCertIDs {
		a := good
		a.id = oracleID([]crypto.Hash{crypto.SHA1, crypto.SHA256}[i%2], new(big.Int).Lsh(big.NewInt(int64(i+1)), uint(8*i)))
		many = append(many, a)
	}
	long := bytes.Repeat([]byte{0xee}, MaxNonce)
	cases := []struct {
		name    string
		answers []single
		nonce   []byte
	}{
		{"good", []single{good}, nil},
		{"revoked-with-reason", []single{revReason}, nil},
		{"revoked-without-reason", []single{revNoReason}, nil},
		{"revoked-reason-zero", []single{revZero}, nil},
		{"on-hold", []single{hold}, nil},
		{"unissued-extended-revoke", []single{unissued}, nil},
		{"nonce", []single{good}, []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{"nonce-128", []single{good}, long},
		{"unissued-and-nonce", []single{good, unissued}, []byte{9}},
		{"multi-certid", []single{good, revReason, revNoReason, hold, unissued}, []byte{4, 3, 2, 1}},
		{"50-certids", many, long},
	}
	produced := time.Date(2026, 12, 7, 16, 0, 1, 999999999, time.FixedZone("TJT", 5*3600))
	next := produced.Add(24 * time.Hour)
	cutoff := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for kn, s := range signers {
		for _, c := range cases {
			t.Run(kn+"/"+c.name, func(t *testing.T) {
				want, err := referenceTBS(s, c.answers, produced, produced, next, cutoff, c.nonce)
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.enc.encodeTBS(c.answers, produced, produced, next, cutoff, c.nonce)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("ResponseData differs:\n got  %x\n want %x", got, want)
				}
				sig := bytes.Repeat([]byte{0x5a}, 72)
				wantR, err := referenceAssemble(s, want, sig)
				if err != nil {
					t.Fatal(err)
				}
				gotR, err := s.enc.assemble(got, sig)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(gotR, wantR) {
					t.Fatalf("OCSPResponse differs:\n got  %x\n want %x", gotR, wantR)
				}
				// Signed for real: x/crypto/ocsp parses it and checks the
				// signature with the embedded signer certificate.
				der, err := s.sign(context.Background(), c.answers, produced, produced, next, cutoff, c.nonce)
				if err != nil {
					t.Fatal(err)
				}
				if len(c.answers) > 1 {
					checkSigned(t, s, der)
					return
				}
				r, err := xocsp.ParseResponse(der, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := r.CheckSignatureFrom(r.Certificate); err != nil {
					t.Fatal(err)
				}
				if r.SerialNumber.Cmp(c.answers[0].id.Serial) != 0 || !r.ProducedAt.Equal(produced.Truncate(time.Second)) {
					t.Fatalf("parsed serial %v produced %v", r.SerialNumber, r.ProducedAt)
				}
			})
		}
	}
}

// checkSigned verifies a response of several answers (x/crypto/ocsp
// reads only responses of one) with the signer's certificate.
func checkSigned(t *testing.T, s *signer, der []byte) {
	t.Helper()
	var r asnResponse
	if rest, err := asn1.Unmarshal(der, &r); err != nil || len(rest) > 0 {
		t.Fatalf("OCSPResponse: %v", err)
	}
	var b asnBasic
	if rest, err := asn1.Unmarshal(r.Bytes.Response, &b); err != nil || len(rest) > 0 {
		t.Fatalf("BasicOCSPResponse: %v", err)
	}
	cert, err := x509.ParseCertificate(s.certDER)
	if err != nil {
		t.Fatal(err)
	}
	alg := map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA256: x509.ECDSAWithSHA256, crypto.SHA384: x509.ECDSAWithSHA384}[s.hash]
	if _, ok := s.key.Public().(*rsa.PublicKey); ok {
		alg = x509.SHA256WithRSA
	}
	if err := cert.CheckSignature(alg, b.TBS.FullBytes, b.Signature.Bytes); err != nil {
		t.Fatal(err)
	}
}

// A status the encoder does not know and a year GeneralizedTime cannot
// hold are errors, as they were with encoding/asn1.
func TestEncoderRefuses(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := testSigner(t, ec)
	now := time.Now()
	bad := single{id: oracleID(crypto.SHA1, big.NewInt(1)), status: 2, reason: -1}
	if _, err := s.enc.encodeTBS([]single{bad}, now, now, now, now, nil); err == nil {
		t.Fatal("status 2 encoded")
	}
	good := single{id: oracleID(crypto.SHA1, big.NewInt(1)), status: Good, reason: -1}
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.enc.encodeTBS([]single{good}, now, now, far, now, nil); err == nil {
		t.Fatal("year 10000 encoded")
	}
	if _, err := referenceTBS(s, []single{good}, now, now, far, now, nil); err == nil {
		t.Fatal("the reference encoded year 10000")
	}
}
