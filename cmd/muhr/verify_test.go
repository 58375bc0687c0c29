package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/httpx"
	"github.com/muhr-pki/muhr/internal/cms"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/ocsp"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/tsa"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

// signingCenter is the demo hierarchy on SoftHSM2 with the center's own
// OCSP responder and TSA serving on loopback, and leaves issued by the
// qualified CA's key on the token.
type signingCenter struct {
	p      *tsatest.PKI
	db     *sql.DB
	auth   *ocsp.Authority
	caKey  crypto.Signer
	url    string
	dir    string
	serial atomic.Int64
}

const verifyCAID = "qca-demo"

func newSigningCenter(t *testing.T) *signingCenter {
	t.Helper()
	ctx := context.Background()
	st := tsatest.SQLite(t)
	// The server first: the ceremony writes its URL into the CA
	// certificates' CDP and the TSA certificate's AIA.
	mux := httpx.NewMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p := tsatest.NewPKIAt(t, st, srv.URL)
	c := &signingCenter{p: p, db: st.(interface{ DB() *sql.DB }).DB(), dir: t.TempDir(), url: srv.URL}
	c.serial.Store(5000)
	ca, err := st.GetCA(ctx, verifyCAID)
	if err != nil {
		t.Fatal(err)
	}
	if c.caKey, err = p.Token.Signer(ctx, ca.KeyLabel); err != nil {
		t.Fatal(err)
	}
	if c.auth, err = ocsp.New(ctx, ocsp.Options{Store: st, Keys: p.Token, Validity: time.Hour}); err != nil {
		t.Fatal(err)
	}
	unit, err := tsa.LoadUnit(ctx, st, p.Token, p.TSACA, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ts, err := tsa.New(tsa.Options{Unit: unit, Ledger: tsa.StoreLedger(st), Clock: realTSAClock{}, Accuracy: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h := ocsp.NewResponder(c.auth, nil)
	mux.Handle("POST /ocsp", h)
	mux.HandleRaw(http.MethodGet, ocsp.GETPrefix, h)
	mux.Handle("POST /tsa", ts)
	// Each CA's CRL, signed by its key on the token (nothing revoked:
	// the leaves' revocation is asked of the responder).
	mux.Handle("GET /crl/{file}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		row, err := st.GetCA(r.Context(), strings.TrimSuffix(r.PathValue("file"), ".crl"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		cert, _ := x509.ParseCertificate(row.CertDER)
		key, err := p.Token.Signer(r.Context(), row.KeyLabel)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		now := time.Now()
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(now.UnixNano()),
			ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour)}, cert, key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(der)
	}))
	return c
}

type realTSAClock struct{}

func (realTSAClock) Now(context.Context) (time.Time, error) { return time.Now(), nil }

// leaf issues a nonRepudiation certificate for pub under the qualified CA,
// with the responder's URL in AIA, and records it as issued.
func (c *signingCenter) leaf(t *testing.T, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	serial := big.NewInt(c.serial.Add(1))
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "Раҳимов Ҷамшед", Country: []string{"TJ"}},
		NotBefore: now, NotAfter: now.Add(48 * time.Hour), KeyUsage: x509.KeyUsageContentCommitment,
		OCSPServer: []string{c.url + "/ocsp"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.p.Issuing, pub, c.caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	err = c.p.Store.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		if err := tx.ReserveSerial(ctx, store.SerialReservation{IssuerID: verifyCAID, Serial: serial, Purpose: "test", ReservedAt: time.Now()}); err != nil {
			return err
		}
		return tx.InsertCertificate(ctx, store.Certificate{IssuerID: verifyCAID, Serial: serial, Subject: cert.Subject.String(),
			Profile: "test", NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, DER: cert.Raw, Status: store.CertStatusValid})
	})
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// revoke marks the certificate revoked at at, as the revocation code does,
// and tells the responder.
func (c *signingCenter) revoke(t *testing.T, cert *x509.Certificate, at time.Time) {
	t.Helper()
	if _, err := c.db.Exec(`UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = 1 WHERE issuer_id = ? AND serial = ?`,
		at.UnixMicro(), verifyCAID, cert.SerialNumber.Text(16)); err != nil {
		t.Fatal(err)
	}
	c.auth.Invalidate(verifyCAID, cert.SerialNumber)
}

// softLeaf is a software key (PEM file, 0600) and its certificate file
// (leaf, then the issuing CA).
func (c *signingCenter) softLeaf(t *testing.T) (cert *x509.Certificate, keyPath, certPath string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert = c.leaf(t, key.Public())
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPath = filepath.Join(c.dir, cert.SerialNumber.String()+".key")
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600)
	certPath = tsatest.WritePEM(t, c.dir, cert.SerialNumber.String()+".pem", cert, c.p.Issuing)
	return cert, keyPath, certPath
}

func writeDoc(t *testing.T, dir string) string {
	path := filepath.Join(dir, "order.txt")
	os.WriteFile(path, []byte("Приказ № 17 от 7 декабря 2026 г.\n"), 0o644)
	return path
}

func opensslCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(testpki.Tool(t, "openssl"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// An openssl CAdES signature with a Muhr certificate validates; revoked
// afterwards, without a timestamp, it is INDETERMINATE (exit 4).
func TestVerifyOpenSSLCAdESWithMuhrCertificate(t *testing.T) {
	c := newSigningCenter(t)
	cert, keyPath, certPath := c.softLeaf(t)
	doc := writeDoc(t, c.dir)
	sig := filepath.Join(c.dir, "order.p7s")
	opensslCmd(t, "cms", "-sign", "-cades", "-binary", "-in", doc, "-signer", certPath, "-inkey", keyPath,
		"-certfile", c.p.IssuerPEM, "-outform", "DER", "-out", sig)
	out, err := run(t, "verify", "signature", "--in", sig, "--content", doc, "--trust", c.p.RootPEM)
	if err != nil || !strings.HasPrefix(out, "TOTAL-PASSED") {
		t.Fatalf("err %v:\n%s", err, out)
	}
	if !strings.Contains(out, "by OCSP "+c.url+"/ocsp: good") {
		t.Fatalf("no answer of the running responder:\n%s", out)
	}
	// JSON for programs, and the ETSI report.
	xmlPath := filepath.Join(c.dir, "report.xml")
	out, err = run(t, "verify", "signature", "--in", sig, "--content", doc, "--trust", c.p.RootPEM, "-o", "json", "--report", "etsi", "--out", xmlPath)
	if err != nil || !strings.Contains(out, `"indication": "TOTAL-PASSED"`) {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if x, _ := os.ReadFile(xmlPath); !strings.Contains(string(x), "urn:etsi:019102:mainindication:total-passed") {
		t.Fatalf("etsi report:\n%s", x)
	}
	// It validates against the TS 119 102-2 schema (verify/schema).
	if b, err := exec.Command(testpki.Tool(t, "xmllint"), "--noout", "--nonet", "--schema",
		"../../verify/schema/ts119102-2-v1.2.1.xsd", xmlPath).CombinedOutput(); err != nil {
		t.Fatalf("the ETSI report does not validate: %v\n%s", err, b)
	}
	// Another document: TOTAL-FAILED, exit 1.
	other := filepath.Join(c.dir, "other.txt")
	os.WriteFile(other, []byte("another order"), 0o644)
	_, err = run(t, "verify", "signature", "--in", sig, "--content", other, "--trust", c.p.RootPEM)
	wantExit(t, "other content", err, 1, "TOTAL-FAILED/HASH_FAILURE")
	// Unknown CA: the TSA's root is not a trust anchor of another center.
	otherRoot := tsatest.NewPKI(t, nil)
	_, err = run(t, "verify", "signature", "--in", sig, "--content", doc, "--trust", otherRoot.RootPEM)
	wantExit(t, "unknown CA", err, 4, "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND")
	// Revoked, no proof of existence: exit 4. OCSP states revocation
	// times in whole seconds: leave a second between the validation time
	// asked about below and the revocation.
	before := time.Now().Add(time.Second).Truncate(time.Second)
	time.Sleep(time.Until(before.Add(1100 * time.Millisecond)))
	c.revoke(t, cert, time.Now())
	out, err = run(t, "verify", "signature", "--in", sig, "--content", doc, "--trust", c.p.RootPEM)
	wantExit(t, "revoked", err, 4, "INDETERMINATE/REVOKED_NO_POE")
	// The certificate alone, too.
	_, err = run(t, "verify", "cert", certPath, "--trust", c.p.RootPEM)
	wantExit(t, "revoked cert", err, 4, "REVOKED_NO_POE")
	_, err = run(t, "verify", "cert", certPath, "--trust", c.p.RootPEM, "--at", before.UTC().Format(time.RFC3339))
	if err != nil {
		t.Fatalf("valid before its revocation: %v", err)
	}
	// The signature asked about at that time, too.
	out, err = run(t, "verify", "signature", "--in", sig, "--content", doc, "--trust", c.p.RootPEM, "--at", before.UTC().Format(time.RFC3339))
	if err != nil || !strings.HasPrefix(out, "TOTAL-PASSED") {
		t.Fatalf("signature at %s, before the revocation: %v\n%s", before, err, out)
	}
	if _, err = run(t, "verify", "signature", "--in", sig, "--content", doc, "--at", "yesterday"); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
		t.Fatalf("--at yesterday: %v", err)
	}
}

// muhr sign (key file and key on the token, CAdES-T from our TSA) verifies
// with openssl cms -verify, its token with openssl ts -verify, and with
// muhr verify signature; revoked after the timestamp it stays valid.
func TestSignVerifiesWithOpenSSL(t *testing.T) {
	c := newSigningCenter(t)
	doc := writeDoc(t, c.dir)
	_, keyPath, certPath := c.softLeaf(t)

	// A key on the token, through the hsm layer.
	tokKey, err := c.p.Token.Generate(context.Background(), "dept-signer", hsm.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	tokCert := c.leaf(t, tokKey.Public())
	tokCertPath := tsatest.WritePEM(t, c.dir, "dept.pem", tokCert, c.p.Issuing)
	uri := "pkcs11:token=" + c.p.SoftHSM.Label + ";object=dept-signer?module-path=" + c.p.SoftHSM.Module

	for _, tc := range []struct {
		name, key, cert string
		extra           []string
	}{
		{"file-detached-T", keyPath, certPath, []string{"--tsa", c.url + "/tsa"}},
		{"file-attached-B", keyPath, certPath, []string{"--attached"}},
		{"token-detached-T", uri, tokCertPath, []string{"--tsa", c.url + "/tsa", "--pin-file", c.p.SoftHSM.PINFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig := filepath.Join(c.dir, tc.name+".p7s")
			out, err := run(t, append([]string{"sign", "--in", doc, "--out", sig, "--key", tc.key, "--cert", tc.cert}, tc.extra...)...)
			if err != nil {
				t.Fatalf("sign: %v\n%s", err, out)
			}
			t.Log(strings.TrimSpace(out))
			args := []string{"cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-CAfile", c.p.RootPEM, "-purpose", "any", "-out", os.DevNull}
			if !strings.Contains(tc.name, "attached") {
				args = append(args, "-content", doc)
			}
			if out := opensslCmd(t, args...); !strings.Contains(out, "Verification successful") {
				t.Fatalf("openssl cms -verify:\n%s", out)
			}
			vargs := []string{"verify", "signature", "--in", sig, "--trust", c.p.RootPEM}
			if !strings.Contains(tc.name, "attached") {
				vargs = append(vargs, "--content", doc)
			}
			if out, err := run(t, vargs...); err != nil || !strings.HasPrefix(out, "TOTAL-PASSED") {
				t.Fatalf("muhr verify: %v\n%s", err, out)
			}
			if !strings.HasSuffix(tc.name, "-T") {
				return
			}
			// The signature timestamp, checked by openssl ts -verify over
			// the signature value.
			b, _ := os.ReadFile(sig)
			sd, err := cms.ParseSignedData(b)
			if err != nil {
				t.Fatal(err)
			}
			vals, n := cms.Find(sd.Signers[0].UnsignedAttrs, cms.OIDAttrSignatureTSToken)
			if n != 1 {
				t.Fatal("no signature timestamp")
			}
			tokPath := filepath.Join(c.dir, tc.name+".tst")
			valPath := filepath.Join(c.dir, tc.name+".sigvalue")
			os.WriteFile(tokPath, vals[0], 0o644)
			os.WriteFile(valPath, sd.Signers[0].Signature, 0o644)
			if out := opensslCmd(t, "ts", "-verify", "-token_in", "-in", tokPath, "-data", valPath, "-CAfile", c.p.RootPEM,
				"-untrusted", c.p.ChainPEM); !strings.Contains(out, "Verification: OK") {
				t.Fatalf("openssl ts -verify:\n%s", out)
			}
		})
	}

	// Revoked after its timestamp: still TOTAL-PASSED; a CAdES-B of the
	// same signer made before is INDETERMINATE/REVOKED_NO_POE.
	sig := filepath.Join(c.dir, "file-detached-T.p7s")
	b, _ := os.ReadFile(sig)
	sd, _ := cms.ParseSignedData(b)
	var leaf *x509.Certificate
	for _, d := range sd.Certificates {
		if cc, _ := x509.ParseCertificate(d); cc != nil && cc.SerialNumber.Cmp(sd.Signers[0].Serial) == 0 {
			leaf = cc
		}
	}
	// OCSP states revocation times in whole seconds.
	time.Sleep(1100 * time.Millisecond)
	c.revoke(t, leaf, time.Now())
	if out, err := run(t, "verify", "signature", "--in", sig, "--content", doc, "--trust", c.p.RootPEM); err != nil {
		t.Fatalf("revoked after the timestamp: %v\n%s", err, out)
	}
	_, err = run(t, "verify", "signature", "--in", filepath.Join(c.dir, "file-attached-B.p7s"), "--trust", c.p.RootPEM)
	wantExit(t, "CAdES-B revoked", err, 4, "REVOKED_NO_POE")

	// A PIN is never a flag value; a key file is refused for a QSCD claim.
	_, err = run(t, "sign", "--in", doc, "--out", sig, "--key", uri+"&pin-value=1234", "--cert", tokCertPath)
	wantExit(t, "pin-value", err, 2, "pin-value")
	// An attribute sign cannot honour is refused, not ignored (it could
	// pick another key), and a serial= that is not the token's is refused.
	_, err = run(t, "sign", "--in", doc, "--out", sig, "--key", strings.Replace(uri, "pkcs11:", "pkcs11:id=%01;", 1), "--cert", tokCertPath)
	wantExit(t, "unknown URI attribute", err, 2, `attribute "id" is not supported`)
	_, err = run(t, "sign", "--in", doc, "--out", sig, "--key", strings.Replace(uri, "pkcs11:", "pkcs11:serial=0000;", 1), "--cert", tokCertPath, "--pin-file", c.p.SoftHSM.PINFile)
	wantExit(t, "wrong token serial", err, 2, "not the serial=0000")
}
