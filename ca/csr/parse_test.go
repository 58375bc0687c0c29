package csr

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"testing"
)

// goodP256 returns a hand-built, valid P-256 CSR and its parts, so variants
// can be re-signed.
func goodP256(t testing.TB) (der, spki []byte, sign func([]byte) []byte) {
	spki, err := x509.MarshalPKIXPublicKey(&p256Key().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sign = ecSigner(p256Key(), crypto.SHA256)
	return buildCSR(t, spki, algSHA256EC, sign), spki, sign
}

// TestRefusesBER feeds BER encodings of otherwise valid, correctly signed
// CSRs. Where crypto/x509 alone would accept one, Check must still refuse
// the request that x509 parsed.
func TestRefusesBER(t *testing.T) {
	der, spki, sign := goodP256(t)
	if _, err := Intake(der, Options{}); err != nil {
		t.Fatalf("control CSR: %v", err)
	}
	subject := mustMarshal(t, struct{}{}) // empty Name
	cases := []struct {
		name string
		der  []byte
		word string
	}{
		{"outer length with a leading zero octet", func() []byte {
			// 30 81 LL → 30 82 00 LL
			if der[1] != 0x81 {
				t.Fatalf("control CSR header %x", der[:2])
			}
			return append([]byte{0x30, 0x82, 0x00}, der[2:]...)
		}(), "leading zero"},
		{"short length in long form", signInfo(
			tlv(0x30, []byte{0x02, 0x01, 0x00}, subject, spki, tlv(0xa0)),
			append([]byte{0x30, 0x81}, algSHA256EC[1:]...), sign), "long form"},
		{"indefinite outer length", append(append([]byte{0x30, 0x80}, der[3:]...), 0, 0), "indefinite"},
		{"non-minimal INTEGER version", signInfo(
			tlv(0x30, []byte{0x02, 0x02, 0x00, 0x00}, subject, spki, tlv(0xa0)), algSHA256EC, sign), "INTEGER"},
		{"constructed BIT STRING signature", func() []byte {
			info := tlv(0x30, []byte{0x02, 0x01, 0x00}, subject, spki, tlv(0xa0))
			return tlv(0x30, info, algSHA256EC, tlv(0x23, tlv(0x03, []byte{0}, sign(info))))
		}(), "constructed"},
		{"BOOLEAN true as 0x01", func() []byte {
			ext := tlv(0x30, mustMarshal(t, asn1.ObjectIdentifier{2, 5, 29, 19}), []byte{0x01, 0x01, 0x01}, tlv(0x04, tlv(0x30)))
			attr := tlv(0x30, mustMarshal(t, oidExtensionRequest), tlv(0x31, tlv(0x30, ext)))
			return buildCSR(t, spki, algSHA256EC, sign, attr)
		}(), "BOOLEAN"},
		{"padded OID sub-identifier", signInfo(
			tlv(0x30, []byte{0x02, 0x01, 0x00}, subject, spki, tlv(0xa0)),
			tlv(0x30, []byte{0x06, 0x09, 0x2a, 0x80, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}), sign), "OBJECT IDENTIFIER"},
		{"version 2", signInfo(
			tlv(0x30, []byte{0x02, 0x01, 0x01}, subject, spki, tlv(0xa0)), algSHA256EC, sign), "version 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantKind(t, tc.der, Options{}, ErrMalformed, tc.word)
			if req, err := x509.ParseCertificateRequest(tc.der); err == nil {
				t.Logf("crypto/x509 alone accepts this encoding")
				if _, err := Check(req, Options{}); !errors.Is(err, ErrMalformed) {
					t.Errorf("Check on x509's parse: %v; want ErrMalformed", err)
				}
			}
		})
	}
}

func TestRefusesBadFraming(t *testing.T) {
	der, _, _ := goodP256(t)
	pemCSR := toPEM(der)
	cases := []struct {
		name string
		data []byte
		word string
	}{
		{"empty", nil, "empty"},
		{"text", []byte("hello, CA"), "neither PEM"},
		{"truncated DER", der[:len(der)-5], "truncated"},
		{"truncated to the header", der[:3], "truncated"},
		{"DER with trailing garbage", append(bytes.Clone(der), "garbage"...), "trailing data"},
		{"DER with a trailing zero", append(bytes.Clone(der), 0), "trailing data"},
		{"PEM with trailing garbage", append(bytes.Clone(pemCSR), "garbage\n"...), "trailing data"},
		{"two PEM blocks", append(bytes.Clone(pemCSR), pemCSR...), "more than one"},
		{"PEM of a certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), `"CERTIFICATE"`},
		{"PEM with headers", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: der}), "headers"},
		{"PEM without END", bytes.Split(pemCSR, []byte("-----END"))[0], "broken PEM"},
		{"PEM of truncated DER", toPEM(der[:len(der)-1]), "truncated"},
		{"too large", append(bytes.Clone(der), make([]byte, MaxSize)...), "at most"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantKind(t, tc.data, Options{}, ErrMalformed, tc.word) })
	}
}
