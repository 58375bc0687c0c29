package cades_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/cades"
	"github.com/muhr-pki/muhr/verify"
)

// A departmental system signs a document with its key and certificate
// (here a software key and a self-signed certificate; in production the
// crypto.Signer of a key on the department's HSM, from
// pkcs11.Open(ctx, cfg) and token.Signer(ctx, "label"), and the
// certificate the center issued for it), then checks the result.
func ExampleSign() {
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Вазорати адлия, devonkhona"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageContentCommitment}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	cert, _ := x509.ParseCertificate(der)

	doc := []byte("Приказ № 17")
	// CAdES-B, detached; set Options.TSA to the center's /tsa URL for
	// CAdES-T.
	p7s, err := cades.Sign(ctx, doc, cert, key, cades.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	v, _ := verify.New(verify.Options{Roots: []*x509.Certificate{cert}})
	rep := v.Signature(ctx, p7s, doc, nil)
	fmt.Println(rep.Indication, rep.Signatures[0].Signer)
	// Output: TOTAL-PASSED CN=Вазорати адлия\, devonkhona
}
