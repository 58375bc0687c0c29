package cades_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/cades"
	"github.com/muhr-pki/muhr/internal/cms"
	"github.com/muhr-pki/muhr/verify"
)

func selfSigned(t *testing.T, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageContentCommitment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestSignAttributesAndKeys(t *testing.T) {
	ctx := context.Background()
	doc := []byte("document")
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, key := range map[string]crypto.Signer{"rsa": rsaKey, "ecdsa-p384": ecKey} {
		t.Run(name, func(t *testing.T) {
			cert := selfSigned(t, key)
			for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
				p7, err := cades.Sign(ctx, doc, cert, key, cades.Options{Digest: h, Attached: true})
				if err != nil {
					t.Fatal(err)
				}
				sd, err := cms.ParseSignedData(p7)
				if err != nil || string(sd.EContent) != "document" {
					t.Fatalf("%v %q", err, sd.EContent)
				}
				for _, oid := range []asn1.ObjectIdentifier{cms.OIDAttrContentType, cms.OIDAttrMessageDigest, cms.OIDAttrSigningTime, cms.OIDAttrSigningCertV2} {
					if _, n := cms.Find(sd.Signers[0].SignedAttrs, oid); n != 1 {
						t.Fatalf("%s: attribute %v %d times", h, oid, n)
					}
				}
				v, _ := verify.New(verify.Options{Roots: []*x509.Certificate{cert}})
				if rep := v.Signature(ctx, p7, nil, nil); rep.Indication != verify.Passed {
					t.Fatalf("%s: %+v", h, rep.Status)
				}
			}
		})
	}
}

func TestSignRefusals(t *testing.T) {
	ctx := context.Background()
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := selfSigned(t, k1)
	if _, err := cades.Sign(ctx, nil, cert, k2, cades.Options{}); !errors.Is(err, cades.ErrInput) {
		t.Fatalf("another key: %v", err)
	}
	if _, err := cades.Sign(ctx, nil, cert, k1, cades.Options{Digest: crypto.SHA1}); !errors.Is(err, cades.ErrInput) {
		t.Fatalf("SHA-1: %v", err)
	}
	// A TSA that refuses, and one that answers garbage: a clear error,
	// no signature.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse" {
			w.Write([]byte{0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02}) // status rejection
			return
		}
		w.Write([]byte("garbage"))
	}))
	defer srv.Close()
	for path, want := range map[string]string{"/refuse": "refused", "/garbage": "not a TimeStampResp"} {
		if _, err := cades.Sign(ctx, []byte("d"), cert, k1, cades.Options{TSA: srv.URL + path}); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v", path, err)
		}
	}
}
