package tsa_test

import (
	"bytes"
	"crypto/rand"
	"encoding/asn1"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"github.com/digitorus/pkcs7"

	"github.com/muhr-pki/muhr/tsa"
)

var oidSigningCertV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}

// tokenOf returns the TimeStampToken of a granted DER reply.
func tokenOf(t testing.TB, reply []byte) ([]byte, *pkcs7.PKCS7) {
	t.Helper()
	var r struct {
		Status asn1.RawValue
		Token  asn1.RawValue `asn1:"optional"`
	}
	if _, err := asn1.Unmarshal(reply, &r); err != nil || len(r.Token.FullBytes) == 0 {
		t.Fatalf("reply has no token: %v", err)
	}
	p7, err := pkcs7.Parse(r.Token.FullBytes)
	if err != nil {
		t.Fatal(err)
	}
	return r.Token.FullBytes, p7
}

var serialLine = regexp.MustCompile(`(?m)^Serial number: 0x([0-9A-F]+)$`)

// Every combination of hash, certReq and policy that openssl's client
// makes is answered with a token that openssl verifies against the root,
// and that the ledger holds byte for byte.
func TestOpenSSLRoundTrip(t *testing.T) {
	ossl := openssl(t)
	e := newEnv(t, nil, nil)
	dir := t.TempDir()
	data := writeFile(t, dir, "document.txt", []byte("Қарори ҳукумат № 17, "+rand.Text()))
	for _, hash := range []string{"sha256", "sha384", "sha512"} {
		for _, certReq := range []bool{true, false} {
			for _, policy := range []string{"", tsa.DefaultPolicy.String(), extraPolicy.String()} {
				name := fmt.Sprintf("%s/cert=%v/policy=%s", hash, certReq, policy)
				t.Run(name, func(t *testing.T) {
					args := []string{"ts", "-query", "-data", data, "-" + hash, "-out", dir + "/q.tsq"}
					if certReq {
						args = append(args, "-cert")
					}
					if policy != "" {
						args = append(args, "-tspolicy", policy)
					}
					run(t, ossl, args...)
					q := readFile(t, dir+"/q.tsq")
					reply := e.post(t, q)
					tsr := writeFile(t, dir, "r.tsr", reply)
					out := run(t, ossl, "ts", "-verify", "-data", data, "-in", tsr, "-CAfile", e.pki.RootPEM, "-untrusted", e.pki.ChainPEM)
					if !strings.Contains(out, "Verification: OK") {
						t.Fatalf("openssl ts -verify: %s", out)
					}
					text := run(t, ossl, "ts", "-reply", "-in", tsr, "-text")
					wantPolicy := policy
					if wantPolicy == "" {
						wantPolicy = tsa.DefaultPolicy.String()
					}
					for _, want := range []string{"Status: Granted.", "Policy OID: " + wantPolicy, "Accuracy: 0x01 seconds, unspecified millis, unspecified micros",
						"Nonce: 0x", "Hash Algorithm: " + hash} {
						if !strings.Contains(text, want) {
							t.Errorf("reply text lacks %q:\n%s", want, text)
						}
					}
					raw, p7 := tokenOf(t, reply)
					if certReq {
						if len(p7.Certificates) != 2 || !bytes.Equal(p7.Certificates[0].Raw, e.pki.TSA.Raw) ||
							!bytes.Equal(p7.Certificates[1].Raw, e.pki.Issuing.Raw) {
							t.Errorf("certReq: token carries %d certificates, want the TSA unit and its issuing CA", len(p7.Certificates))
						}
					} else if len(p7.Certificates) != 0 {
						t.Errorf("no certReq: token carries %d certificates", len(p7.Certificates))
					}
					if !hasAttr(p7, oidSigningCertV2) {
						t.Error("token has no signing-certificate-v2 (ESSCertIDv2) attribute")
					}
					m := serialLine.FindStringSubmatch(text)
					if m == nil {
						t.Fatalf("no serial in:\n%s", text)
					}
					serial, _ := new(big.Int).SetString(m[1], 16)
					row, err := e.pki.Store.GetTSAToken(t.Context(), serial)
					if err != nil {
						t.Fatalf("ledger: %v", err)
					}
					// The ledger keeps the token without certificates (the
					// chain is fixed per signer row); putting them back
					// gives the released token byte for byte.
					bare, err := tsa.StripCertificates(raw)
					if err != nil {
						t.Fatal(err)
					}
					if certReq {
						full, err := tsa.LedgerTokenWithChain(t.Context(), e.pki.Store, row)
						if err != nil || !bytes.Equal(full, raw) {
							t.Errorf("ledger token with its certificates put back differs from the released one (%v)", err)
						}
					}
					if !bytes.Equal(row.TokenDER, bare) || bytes.Contains(row.TokenDER, e.pki.TSA.Raw) {
						t.Errorf("ledger token is not the released one without certificates")
					}
					if row.Policy != wantPolicy || row.SignerCAID != e.pki.TSACA ||
						row.SignerSerial.Cmp(e.pki.TSA.SerialNumber) != 0 || row.Requester == "" {
						t.Errorf("ledger row (serial %x, policy %s) does not match the token", row.Serial, row.Policy)
					}
				})
			}
		}
	}
}

func hasAttr(p7 *pkcs7.PKCS7, oid asn1.ObjectIdentifier) bool {
	for _, s := range p7.Signers {
		for _, a := range s.AuthenticatedAttributes {
			if a.Type.Equal(oid) {
				return true
			}
		}
	}
	return false
}
