package cades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"time"

	"github.com/muhr-pki/muhr/internal/cms"
)

// MaxTimestampReplyBytes bounds a TSA's answer: a token with its chain is a
// few kilobytes.
const MaxTimestampReplyBytes = 1 << 20

type timeStampReq struct {
	Version        int
	MessageImprint cms.MessageImprint
	Nonce          *big.Int `asn1:"optional"`
	CertReq        bool     `asn1:"optional,default:false"`
}

type timeStampResp struct {
	Status struct {
		Status       int
		StatusString asn1.RawValue  `asn1:"optional"`
		FailInfo     asn1.BitString `asn1:"optional"`
	}
	Token asn1.RawValue `asn1:"optional"`
}

// Timestamp asks the TSA at url for a token over data (hashed with h),
// checks that the token answers this request (imprint and nonce), and
// returns the TimeStampToken.
func Timestamp(ctx context.Context, client *http.Client, timeout time.Duration, url string, data []byte, h crypto.Hash) ([]byte, error) {
	if client == nil {
		client = http.DefaultClient
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	d := h.New()
	d.Write(data)
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, fmt.Errorf("cades: nonce: %w", err)
	}
	imprint := cms.MessageImprint{HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: cms.HashOID(h)}, HashedMessage: d.Sum(nil)}
	req, err := asn1.Marshal(timeStampReq{Version: 1, MessageImprint: imprint, Nonce: nonce, CertReq: true})
	if err != nil {
		return nil, fmt.Errorf("cades: timestamp request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req))
	if err != nil {
		return nil, fmt.Errorf("cades: TSA URL: %w", err)
	}
	hr.Header.Set("Content-Type", "application/timestamp-query")
	res, err := client.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("cades: TSA %s: %w", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxTimestampReplyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cades: TSA %s: %w", url, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cades: TSA %s: HTTP %s", url, res.Status)
	}
	if len(body) > MaxTimestampReplyBytes {
		return nil, fmt.Errorf("cades: TSA %s: answer over %d octets", url, MaxTimestampReplyBytes)
	}
	var resp timeStampResp
	if rest, err := asn1.Unmarshal(body, &resp); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("cades: TSA %s: the answer is not a TimeStampResp", url)
	}
	if s := resp.Status.Status; s != 0 && s != 1 {
		return nil, fmt.Errorf("cades: TSA %s refused the request: status %d, failInfo %x", url, s, resp.Status.FailInfo.Bytes)
	}
	token := resp.Token.FullBytes
	_, info, err := cms.ParseTimeStampToken(token)
	if err != nil {
		return nil, fmt.Errorf("cades: TSA %s: %w", url, err)
	}
	if !info.MessageImprint.HashAlgorithm.Algorithm.Equal(imprint.HashAlgorithm.Algorithm) ||
		!bytes.Equal(info.MessageImprint.HashedMessage, imprint.HashedMessage) {
		return nil, fmt.Errorf("cades: TSA %s: the token is over another imprint", url)
	}
	if info.Nonce == nil || info.Nonce.Cmp(nonce) != 0 {
		return nil, fmt.Errorf("cades: TSA %s: the token does not echo our nonce", url)
	}
	return token, nil
}
