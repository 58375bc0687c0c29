package ocsp

import (
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"reflect"
	"testing"
)

func fastSeeds(t testing.TB) map[string][]byte {
	t.Helper()
	sha1ID := asnCertID{Hash: hashAlg(crypto.SHA1), NameHash: make([]byte, 20), KeyHash: make([]byte, 20), Serial: big.NewInt(42)}
	noParams := sha1ID
	noParams.Hash = pkix.AlgorithmIdentifier{Algorithm: oidSHA1}
	sha256ID := asnCertID{Hash: hashAlg(crypto.SHA256), NameHash: make([]byte, 32), KeyHash: make([]byte, 32),
		Serial: new(big.Int).Lsh(big.NewInt(1), 159)}
	req := func(ids []asnCertID, exts []pkix.Extension, version int) []byte {
		tbs := asnTBSRequest{Version: version, Extensions: exts}
		for _, id := range ids {
			tbs.List = append(tbs.List, asnSingleRequest{CertID: id})
		}
		b, err := asn1.Marshal(asnOCSPRequest{TBS: tbs})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	nonce := func(n []byte, critical bool) pkix.Extension {
		v, err := asn1.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		return pkix.Extension{Id: oidNonce, Critical: critical, Value: v}
	}
	other := pkix.Extension{Id: asn1.ObjectIdentifier{1, 2, 3}, Value: []byte{5, 0}}
	return map[string][]byte{
		"sha1":            req([]asnCertID{sha1ID}, nil, 0),
		"sha1-no-params":  req([]asnCertID{noParams}, nil, 0),
		"sha256-multi":    req([]asnCertID{sha256ID, sha1ID, sha256ID}, nil, 0),
		"nonce":           req([]asnCertID{sha1ID}, []pkix.Extension{nonce(make([]byte, 16), false)}, 0),
		"nonce-128":       req([]asnCertID{sha256ID}, []pkix.Extension{nonce(make([]byte, 128), false)}, 0),
		"nonce-critical":  req([]asnCertID{sha1ID}, []pkix.Extension{nonce([]byte{1}, true)}, 0),
		"nonce-empty":     req([]asnCertID{sha1ID}, []pkix.Extension{nonce([]byte{}, false)}, 0),
		"nonce-129":       req([]asnCertID{sha1ID}, []pkix.Extension{nonce(make([]byte, 129), false)}, 0),
		"nonce-and-other": req([]asnCertID{sha1ID}, []pkix.Extension{other, nonce([]byte{1, 2}, false)}, 0),
		"two-nonces":      req([]asnCertID{sha1ID}, []pkix.Extension{nonce([]byte{1}, false), nonce([]byte{2}, false)}, 0),
		"version-2":       req([]asnCertID{sha1ID}, nil, 1),
		"negative-serial": req([]asnCertID{{Hash: hashAlg(crypto.SHA1), NameHash: make([]byte, 20), KeyHash: make([]byte, 20), Serial: big.NewInt(-1)}}, nil, 0),
		"short-hash":      req([]asnCertID{{Hash: hashAlg(crypto.SHA256), NameHash: make([]byte, 20), KeyHash: make([]byte, 32), Serial: big.NewInt(1)}}, nil, 0),
		"no-certid":       req(nil, nil, 0),
	}
}

// The requests clients send take the fast path; the others go to the full
// parser.
func TestCommonRequestsParseFast(t *testing.T) {
	fast := map[string]bool{"sha1": true, "sha1-no-params": true, "sha256-multi": true, "nonce": true, "nonce-128": true}
	for name, der := range fastSeeds(t) {
		r, ok := parseCommon(der)
		if ok != fast[name] {
			t.Errorf("%s: fast path %v, want %v", name, ok, fast[name])
			continue
		}
		if !ok {
			continue
		}
		want, err := parseFull(der)
		if err != nil {
			t.Fatalf("%s: the full parser refuses what the fast path took: %v", name, err)
		}
		if !reflect.DeepEqual(r, want) {
			t.Fatalf("%s: fast %+v, full %+v", name, r, want)
		}
	}
}

// FuzzFastParseAgrees: whatever the fast path accepts, the full parser
// accepts and reads the same.
func FuzzFastParseAgrees(f *testing.F) {
	for _, der := range fastSeeds(f) {
		f.Add(der)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := parseCommon(b)
		if !ok {
			return
		}
		want, err := parseFull(b)
		if err != nil {
			t.Fatalf("fast path accepted what the full parser refuses (%v): %x", err, b)
		}
		if !reflect.DeepEqual(r, want) {
			t.Fatalf("fast %+v, full %+v", r, want)
		}
	})
}
