package ocsp

import (
	"bytes"
	"crypto"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// parseCommon reads the requests clients actually send, without
// encoding/asn1's reflection (a nonce request cannot be remembered by its
// bytes, so it is parsed every time): no version, requestor, per-CertID
// extensions or signature; hash algorithms in their usual encodings; no
// extension but the nonce, not marked critical. Anything else (ok false)
// goes to the full parser, which also says what is wrong with a bad
// request; what this accepts, the full parser reads the same
// (FuzzFastParseAgrees).
func parseCommon(der []byte) (*Request, bool) {
	in := cryptobyte.String(der)
	var outer, tbs, list cryptobyte.String
	if !in.ReadASN1(&outer, cbasn1.SEQUENCE) || !in.Empty() ||
		!outer.ReadASN1(&tbs, cbasn1.SEQUENCE) || !outer.Empty() ||
		!tbs.ReadASN1(&list, cbasn1.SEQUENCE) {
		return nil, false
	}
	req := &Request{}
	for !list.Empty() {
		if len(req.CertIDs) == MaxCertIDs {
			return nil, false
		}
		var sr, id, alg cryptobyte.String
		var nameHash, keyHash []byte
		serial := new(big.Int)
		if !list.ReadASN1(&sr, cbasn1.SEQUENCE) || !sr.ReadASN1(&id, cbasn1.SEQUENCE) || !sr.Empty() ||
			!id.ReadASN1Element(&alg, cbasn1.SEQUENCE) ||
			!id.ReadASN1Bytes(&nameHash, cbasn1.OCTET_STRING) || !id.ReadASN1Bytes(&keyHash, cbasn1.OCTET_STRING) ||
			!id.ReadASN1Integer(serial) || !id.Empty() {
			return nil, false
		}
		h := commonHash(alg)
		if h == 0 || len(nameHash) != h.Size() || len(keyHash) != h.Size() || serial.Sign() < 0 {
			return nil, false
		}
		req.CertIDs = append(req.CertIDs, CertID{Hash: h, NameHash: bytes.Clone(nameHash), KeyHash: bytes.Clone(keyHash), Serial: serial})
	}
	if len(req.CertIDs) == 0 {
		return nil, false
	}
	if tbs.Empty() {
		return req, true
	}
	var wrap, exts, ext, oid, value, nonce cryptobyte.String
	if !tbs.ReadASN1(&wrap, tagExplicit2) || !tbs.Empty() || !wrap.ReadASN1(&exts, cbasn1.SEQUENCE) || !wrap.Empty() ||
		!exts.ReadASN1(&ext, cbasn1.SEQUENCE) || !exts.Empty() ||
		!ext.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) || !bytes.Equal(oid, derNonceOIDBody) ||
		!ext.ReadASN1(&value, cbasn1.OCTET_STRING) || !ext.Empty() ||
		!value.ReadASN1(&nonce, cbasn1.OCTET_STRING) || !value.Empty() ||
		len(nonce) < 1 || len(nonce) > MaxNonce {
		return nil, false
	}
	req.Nonce = bytes.Clone(nonce)
	return req, true
}

// The usual AlgorithmIdentifier encodings of SHA-1 and SHA-256: with NULL
// parameters and without.
var (
	derSHA1AlgNoParams   = []byte{0x30, 0x07, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a}
	derSHA256AlgNoParams = []byte{0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}
	derNonceOIDBody      = derNonceOID[2:]
	derNonceOID          = mustMarshal(oidNonce)
)

func commonHash(alg []byte) crypto.Hash {
	switch {
	case bytes.Equal(alg, derSHA1Alg), bytes.Equal(alg, derSHA1AlgNoParams):
		return crypto.SHA1
	case bytes.Equal(alg, derSHA256Alg), bytes.Equal(alg, derSHA256AlgNoParams):
		return crypto.SHA256
	}
	return 0
}
