package tsa

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"
)

// tstInfo is the TSTInfo of RFC 3161 section 2.4.2, as the token carries it.
type tstInfo struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint messageImprint
	SerialNumber   *big.Int
	GenTime        time.Time        `asn1:"generalized"`
	Accuracy       accuracy         `asn1:"optional"`
	Ordering       bool             `asn1:"optional,default:false"`
	Nonce          *big.Int         `asn1:"optional"`
	TSA            asn1.RawValue    `asn1:"tag:0,optional"`
	Extensions     []pkix.Extension `asn1:"tag:1,optional"`
}

type accuracy struct {
	Seconds      int64 `asn1:"optional"`
	Milliseconds int64 `asn1:"tag:0,optional"`
	Microseconds int64 `asn1:"tag:1,optional"`
}

// issued is a signed token read back from the library's response.
type issued struct {
	response []byte // the whole TimeStampResp
	token    []byte // its TimeStampToken (CMS SignedData)
	info     tstInfo
}

// readBack takes the TimeStampResp the library built apart, to learn the
// serial it drew and to check that the token answers the request before
// anything is recorded or released.
func readBack(resp []byte, req *Request, policy asn1.ObjectIdentifier, genTime time.Time) (*issued, error) {
	var r timeStampResp
	if rest, err := asn1.Unmarshal(resp, &r); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("tsa: library response does not parse: %v", err)
	}
	if r.Status.Status != statusGranted || len(r.TimeStampToken.FullBytes) == 0 {
		return nil, fmt.Errorf("tsa: library response has status %d and no token", r.Status.Status)
	}
	content, err := eContent(r.TimeStampToken.FullBytes)
	if err != nil {
		return nil, err
	}
	var info tstInfo
	if rest, err := asn1.Unmarshal(content, &info); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("tsa: TSTInfo does not parse: %v", err)
	}
	switch {
	case info.SerialNumber == nil || info.SerialNumber.Sign() <= 0 || info.SerialNumber.BitLen() > 160:
		return nil, fmt.Errorf("tsa: token serial %v is not a positive 160-bit integer", info.SerialNumber)
	case !bytes.Equal(info.MessageImprint.HashedMessage, req.Imprint) || !info.MessageImprint.HashAlgorithm.Algorithm.Equal(req.HashOID):
		return nil, fmt.Errorf("tsa: token message imprint differs from the request")
	case !info.Policy.Equal(policy):
		return nil, fmt.Errorf("tsa: token policy %s, want %s", info.Policy, policy)
	case !info.GenTime.Equal(genTime):
		return nil, fmt.Errorf("tsa: token genTime %s, want %s", info.GenTime, genTime)
	case (req.Nonce == nil) != (info.Nonce == nil) || (req.Nonce != nil && req.Nonce.Cmp(info.Nonce) != 0):
		return nil, fmt.Errorf("tsa: token nonce differs from the request")
	}
	return &issued{response: resp, token: r.TimeStampToken.FullBytes, info: info}, nil
}

// The CMS ContentInfo / SignedData prefix up to the encapsulated content;
// encoding/asn1 allows the fields after it (certificates, signerInfos).
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

type signedDataPrefix struct {
	Version          int
	DigestAlgorithms asn1.RawValue
	EncapContentInfo struct {
		EContentType asn1.ObjectIdentifier
		EContent     []byte `asn1:"explicit,tag:0"`
	}
}

var oidTSTInfo = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}

// eContent returns the TSTInfo DER inside a token. It reads the library's
// DER output with encoding/asn1 rather than pkcs7.Parse, whose BER
// converter writes a package-level variable (a data race under load).
func eContent(token []byte) ([]byte, error) {
	var ci contentInfo
	if _, err := asn1.Unmarshal(token, &ci); err != nil {
		return nil, fmt.Errorf("tsa: token is not a ContentInfo: %w", err)
	}
	var sd signedDataPrefix
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("tsa: token is not SignedData: %w", err)
	}
	if !sd.EncapContentInfo.EContentType.Equal(oidTSTInfo) {
		return nil, fmt.Errorf("tsa: token content type %s is not TSTInfo", sd.EncapContentInfo.EContentType)
	}
	return sd.EncapContentInfo.EContent, nil
}
