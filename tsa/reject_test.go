package tsa_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/tsa"
)

// tsReq is built by hand so tests can send what no well-behaved client does.
type tsReq struct {
	Version        int
	MessageImprint struct {
		HashAlgorithm pkix.AlgorithmIdentifier
		HashedMessage []byte
	}
	ReqPolicy  asn1.ObjectIdentifier `asn1:"optional"`
	Nonce      *big.Int              `asn1:"optional"`
	CertReq    bool                  `asn1:"optional"`
	Extensions []pkix.Extension      `asn1:"tag:0,optional"`
}

var (
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidMD5    = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}
)

func request(t testing.TB, mod func(*tsReq)) []byte {
	t.Helper()
	d := sha256.Sum256([]byte(rand.Text()))
	var q tsReq
	q.Version = 1
	q.MessageImprint.HashAlgorithm = pkix.AlgorithmIdentifier{Algorithm: oidSHA256, Parameters: asn1.NullRawValue}
	q.MessageImprint.HashedMessage = d[:]
	q.CertReq = true
	if mod != nil {
		mod(&q)
	}
	der, err := asn1.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// openssl's words for each PKIFailureInfo bit.
var failureText = map[tsa.Failure]string{
	tsa.BadAlg:              "unrecognized or unsupported algorithm identifier",
	tsa.BadRequest:          "transaction not permitted or supported",
	tsa.BadDataFormat:       "the data submitted has the wrong format",
	tsa.TimeNotAvailable:    "the TSA's time source is not available",
	tsa.UnacceptedPolicy:    "the requested TSA policy is not supported by the TSA",
	tsa.UnacceptedExtension: "the requested extension is not supported by the TSA",
	tsa.SystemFailure:       "the request cannot be handled due to system failure",
}

// wantRejected checks with openssl that reply is a well-formed rejection
// carrying exactly the failure bit f.
func wantRejected(t testing.TB, ossl string, reply []byte, f tsa.Failure) {
	t.Helper()
	p := writeFile(t, t.TempDir(), "r.tsr", reply)
	text := run(t, ossl, "ts", "-reply", "-in", p, "-text")
	if !strings.Contains(text, "\nStatus: Rejected.\n") || !strings.Contains(text, "\nTST info:\nNot included.") {
		t.Fatalf("want a rejection without a token, openssl prints:\n%s", text)
	}
	// The line holds every set bit, so equality also means "only this one".
	if !strings.Contains(text, "\nFailure info: "+failureText[f]+"\n") {
		t.Fatalf("want exactly failure %s, openssl prints:\n%s", f, text)
	}
}

func TestRejections(t *testing.T) {
	ossl := openssl(t)
	e := newEnv(t, nil, nil)
	dir := t.TempDir()
	data := writeFile(t, dir, "doc", []byte("data"))
	viaOpenSSL := func(args ...string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			out := dir + "/" + strings.ReplaceAll(t.Name(), "/", "_") + ".tsq"
			run(t, ossl, append([]string{"ts", "-query", "-data", data, "-out", out}, args...)...)
			return readFile(t, out)
		}
	}
	valid := request(t, nil)
	crit := func(critical bool) func(*tsReq) {
		return func(q *tsReq) {
			q.Extensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Critical: critical, Value: []byte{5, 0}}}
		}
	}
	cases := []struct {
		name string
		req  func(t *testing.T) []byte
		want tsa.Failure
	}{
		{"garbage", func(*testing.T) []byte { return []byte("GET / HTTP/1.0\r\n\r\n") }, tsa.BadDataFormat},
		{"empty", func(*testing.T) []byte { return nil }, tsa.BadDataFormat},
		{"truncated", func(*testing.T) []byte { return valid[:len(valid)-5] }, tsa.BadDataFormat},
		{"trailing bytes", func(*testing.T) []byte { return append(append([]byte{}, valid...), 0, 0) }, tsa.BadDataFormat},
		{"version 2", func(t *testing.T) []byte { return request(t, func(q *tsReq) { q.Version = 2 }) }, tsa.BadDataFormat},
		{"sha1 (openssl)", viaOpenSSL("-sha1"), tsa.BadAlg},
		{"md5 (openssl)", viaOpenSSL("-md5"), tsa.BadAlg},
		{"md5 oid", func(t *testing.T) []byte {
			return request(t, func(q *tsReq) {
				q.MessageImprint.HashAlgorithm.Algorithm = oidMD5
				q.MessageImprint.HashedMessage = q.MessageImprint.HashedMessage[:16]
			})
		}, tsa.BadAlg},
		{"sha256 oid, 20-byte digest", func(t *testing.T) []byte {
			return request(t, func(q *tsReq) { q.MessageImprint.HashedMessage = q.MessageImprint.HashedMessage[:20] })
		}, tsa.BadDataFormat},
		{"sha256 oid, odd parameters", func(t *testing.T) []byte {
			return request(t, func(q *tsReq) {
				q.MessageImprint.HashAlgorithm.Parameters = asn1.RawValue{FullBytes: []byte{2, 1, 7}}
			})
		}, tsa.BadDataFormat},
		{"unknown policy (openssl)", viaOpenSSL("-sha256", "-tspolicy", "1.2.3.4.5"), tsa.UnacceptedPolicy},
		{"critical extension", func(t *testing.T) []byte { return request(t, crit(true)) }, tsa.UnacceptedExtension},
		{"non-critical extension", func(t *testing.T) []byte { return request(t, crit(false)) }, tsa.UnacceptedExtension},
		{"2 KiB nonce", func(t *testing.T) []byte {
			return request(t, func(q *tsReq) { q.Nonce = new(big.Int).Lsh(big.NewInt(1), 8*2048) })
		}, tsa.BadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.ledger.n.Load()
			wantRejected(t, ossl, e.post(t, tc.req(t)), tc.want)
			if e.ledger.n.Load() != before {
				t.Error("a rejected request left a ledger row")
			}
		})
	}
}

// A 1 KiB nonce is echoed in the token.
func TestLargeNonceEchoed(t *testing.T) {
	ossl := openssl(t)
	e := newEnv(t, nil, nil)
	b := make([]byte, tsa.MaxNonceBytes)
	rand.Read(b)
	b[0] |= 0x80
	nonce := new(big.Int).SetBytes(b)
	reply := e.post(t, request(t, func(q *tsReq) { q.Nonce = nonce }))
	text := run(t, ossl, "ts", "-reply", "-in", writeFile(t, t.TempDir(), "r.tsr", reply), "-text")
	if !strings.Contains(text, "Status: Granted.") {
		t.Fatalf("not granted:\n%s", text)
	}
	want := fmt.Sprintf("Nonce: 0x%X", nonce)
	if !strings.Contains(strings.ReplaceAll(text, "\n", ""), want) {
		t.Errorf("nonce not echoed; want %.40s... in\n%.600s", want, text)
	}
}

// An untrusted clock gets timeNotAvailable; the TSA health says degraded;
// nothing is signed or recorded.
func TestClockUntrusted(t *testing.T) {
	ossl := openssl(t)
	var bad bool
	e := newEnv(t, nil, func(o *tsa.Options) {
		o.Clock = clockFunc(func(context.Context) (time.Time, error) {
			if bad {
				return time.Time{}, errBoom
			}
			return time.Now(), nil
		})
	})
	bad = true
	wantRejected(t, ossl, e.post(t, request(t, nil)), tsa.TimeNotAvailable)
	if n := e.ledger.n.Load(); n != 0 {
		t.Errorf("%d ledger rows", n)
	}
	if err := e.tsa.Health(t.Context()); err == nil {
		t.Error("health ok while the clock is untrusted")
	}
}

// With the HSM gone the answer is systemFailure and the ledger is untouched.
func TestHSMUnavailable(t *testing.T) {
	ossl := openssl(t)
	e := newEnv(t, nil, nil)
	if n := e.ledger.n.Load(); n != 0 {
		t.Fatal(n)
	}
	e.pki.Token.Close()
	wantRejected(t, ossl, e.post(t, request(t, nil)), tsa.SystemFailure)
	if n := e.ledger.n.Load(); n != 0 {
		t.Errorf("%d ledger rows for a token that was not issued", n)
	}
}
