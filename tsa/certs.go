package tsa

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
)

// withIntermediates adds the CA certificates to the certificates field of
// the token inside a granted TimeStampResp. That field lies outside the
// signature, so the token stays valid. It exists because the library's
// way of adding a chain (pkcs7 AddSignerChain) re-verifies the unit
// certificate's signature on every token: a P-384 verification that cost
// more CPU than the whole rest of a request.
func withIntermediates(resp []byte, chain []*x509.Certificate) ([]byte, error) {
	if len(chain) == 0 {
		return resp, nil
	}
	var r struct {
		Status asn1.RawValue
		Token  asn1.RawValue
	}
	if rest, err := asn1.Unmarshal(resp, &r); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("tsa: response does not parse: %v", err)
	}
	var ci contentInfo
	if rest, err := asn1.Unmarshal(r.Token.FullBytes, &ci); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("tsa: token is not a ContentInfo: %v", err)
	}
	var sd asn1.RawValue
	if rest, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("tsa: token is not SignedData: %v", err)
	}
	var fields []byte
	found := false
	for rest := sd.Bytes; len(rest) > 0; {
		var f asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &f); err != nil {
			return nil, fmt.Errorf("tsa: SignedData field: %w", err)
		}
		if f.Class == asn1.ClassContextSpecific && f.Tag == 0 && f.IsCompound {
			b := append([]byte{}, f.Bytes...)
			for _, c := range chain {
				b = append(b, c.Raw...)
			}
			enc, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: b})
			if err != nil {
				return nil, err
			}
			fields, found = append(fields, enc...), true
			continue
		}
		fields = append(fields, f.FullBytes...)
	}
	if !found {
		return nil, errors.New("tsa: token carries no certificates to add the chain to")
	}
	seq := func(class, tag int, b []byte) ([]byte, error) {
		return asn1.Marshal(asn1.RawValue{Class: class, Tag: tag, IsCompound: true, Bytes: b})
	}
	sdDER, err := seq(asn1.ClassUniversal, asn1.TagSequence, fields)
	if err != nil {
		return nil, err
	}
	explicit, err := seq(asn1.ClassContextSpecific, 0, sdDER)
	if err != nil {
		return nil, err
	}
	oid, err := asn1.Marshal(ci.ContentType)
	if err != nil {
		return nil, err
	}
	token, err := seq(asn1.ClassUniversal, asn1.TagSequence, append(oid, explicit...))
	if err != nil {
		return nil, err
	}
	return seq(asn1.ClassUniversal, asn1.TagSequence, append(append([]byte{}, r.Status.FullBytes...), token...))
}
