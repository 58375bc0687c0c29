package tsa

import (
	"bytes"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"testing"

	"github.com/digitorus/timestamp"
)

// FuzzParseRequest: any input gives either a checked request or a
// rejection whose encoding is a TimeStampResp with that one failure bit;
// it never panics.
func FuzzParseRequest(f *testing.F) {
	d := sha256.Sum256([]byte("seed"))
	for _, o := range []timestamp.Request{
		{HashAlgorithm: 5, HashedMessage: d[:]}, // crypto.SHA256
		{HashAlgorithm: 5, HashedMessage: d[:], Certificates: true, Nonce: big.NewInt(42), TSAPolicyOID: DefaultPolicy},
		{HashAlgorithm: 3, HashedMessage: d[:20]}, // crypto.SHA1
	} {
		der, err := o.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
		f.Add(der[:len(der)/2])
	}
	f.Add([]byte{0x30, 0x80, 0, 0})
	f.Fuzz(func(t *testing.T, der []byte) {
		req, rej := ParseRequest(der)
		if (req == nil) == (rej == nil) {
			t.Fatalf("ParseRequest gave request %v and rejection %v", req, rej)
		}
		if req != nil {
			if len(req.Imprint) != req.Hash.Size() {
				t.Fatalf("accepted a %d-byte imprint for %v", len(req.Imprint), req.Hash)
			}
			if req.Nonce != nil && len(req.Nonce.Bytes()) > MaxNonceBytes {
				t.Fatal("accepted an oversized nonce")
			}
			return
		}
		var resp timeStampResp
		rest, err := asn1.Unmarshal(rej.Encode(), &resp)
		if err != nil || len(rest) > 0 || resp.Status.Status != statusRejection ||
			!bytes.Equal(resp.Status.FailInfo.Bytes, failInfoBits(rej.Failure).Bytes) {
			t.Fatalf("rejection %v encodes badly: %v", rej, err)
		}
	})
}
