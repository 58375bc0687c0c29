package ocsp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
)

// BenchmarkNonceResponse splits a live (nonce) answer's CPU in muhrd's
// process: parsing the request, encoding the response (the encoding/asn1
// reference and the hand-written encoder), the token's signature alone,
// and the whole signed response with the key on SoftHSM2 (as muhrd signs)
// and in memory. The HTTP exchange around it is scripts/bench/ocsp.sh's.
//
//	go test -run '^$' -bench NonceResponse -benchtime 2s ./ocsp/
func BenchmarkNonceResponse(b *testing.B) {
	ctx := context.Background()
	tok := testpki.SoftHSM(b)
	t, err := pkcs11.Open(ctx, tok.Config(4))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { t.Close() })
	if _, err := t.Generate(ctx, "bench-ocsp", hsm.ECDSAP256); err != nil {
		b.Fatal(err)
	}
	key, err := t.Signer(ctx, "bench-ocsp")
	if err != nil {
		b.Fatal(err)
	}
	onToken := testSigner(b, key)
	mem, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	inMemory := testSigner(b, mem)

	nonce := []byte("0123456789abcdef0123456789abcdef")
	id := oracleID(crypto.SHA1, new(big.Int).SetBytes([]byte("a 16-byte serial")))
	answers := []single{{id: id, status: Good, reason: -1}}
	now := time.Now()
	next, cutoff := now.Add(24*time.Hour), now.Add(-365*24*time.Hour)
	reqDER := benchRequest(b, id, nonce)

	b.Run("parse-request/encoding-asn1", func(b *testing.B) {
		for b.Loop() {
			if _, err := parseFull(reqDER); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse-request/fast", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseRequest(reqDER); err != nil {
				b.Fatal(err)
			}
		}
	})
	sig := make([]byte, 72)
	b.Run("encode/encoding-asn1", func(b *testing.B) {
		for b.Loop() {
			tbs, err := referenceTBS(onToken, answers, now, now, next, cutoff, nonce)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := referenceAssemble(onToken, tbs, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode/hand", func(b *testing.B) {
		for b.Loop() {
			tbs, err := onToken.enc.encodeTBS(answers, now, now, next, cutoff, nonce)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := onToken.enc.assemble(tbs, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	digest := make([]byte, 32)
	b.Run("sign-digest/softhsm", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := key.Sign(rand.Reader, digest, crypto.SHA256); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	for name, s := range map[string]*signer{"softhsm": onToken, "in-memory": inMemory} {
		b.Run("response/"+name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.sign(context.Background(), answers, now, now, next, cutoff, nonce); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func benchRequest(b *testing.B, id CertID, nonce []byte) []byte {
	b.Helper()
	v, err := asn1.Marshal(nonce)
	if err != nil {
		b.Fatal(err)
	}
	tbs := asnTBSRequest{List: []asnSingleRequest{{CertID: asnCertID{Hash: hashAlg(id.Hash), NameHash: id.NameHash,
		KeyHash: id.KeyHash, Serial: id.Serial}}}, Extensions: []pkix.Extension{{Id: oidNonce, Value: v}}}
	der, err := asn1.Marshal(asnOCSPRequest{TBS: tbs})
	if err != nil {
		b.Fatal(err)
	}
	return der
}
