package verify

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

// RSASSA-PSS-params are read strictly: what does not parse is a format
// failure; SHA-1 (the defaults), another MGF or MGF hash are refused as
// cryptographic constraints.
func TestParsePSSParams(t *testing.T) {
	sha256 := pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}}
	sha384 := pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}}
	sha1 := pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}}
	mgf := func(h pkix.AlgorithmIdentifier) pkix.AlgorithmIdentifier {
		b, _ := asn1.Marshal(h)
		return pkix.AlgorithmIdentifier{Algorithm: oidMGF1, Parameters: asn1.RawValue{FullBytes: b}}
	}
	type params struct {
		Hash    pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:0"`
		MGF     pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:1"`
		Salt    int                      `asn1:"optional,explicit,tag:2,default:20"`
		Trailer int                      `asn1:"optional,explicit,tag:3,default:1"`
	}
	alg := func(p any) pkix.AlgorithmIdentifier {
		b, err := asn1.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return pkix.AlgorithmIdentifier{Algorithm: oidRSAPSS, Parameters: asn1.RawValue{FullBytes: b}}
	}
	if p, err := parsePSSParams(alg(params{Hash: sha256, MGF: mgf(sha256), Salt: 32, Trailer: 1})); err != nil || p.SaltLength != 32 || p.Hash.String() != "SHA-256" {
		t.Fatalf("%+v %v", p, err)
	}
	for name, c := range map[string]struct {
		a   pkix.AlgorithmIdentifier
		sub SubIndication
	}{
		"no params":         {pkix.AlgorithmIdentifier{Algorithm: oidRSAPSS}, CryptoConstraintsFail},
		"all defaults":      {alg(params{Salt: 20, Trailer: 1}), CryptoConstraintsFail},
		"SHA-1":             {alg(params{Hash: sha1, MGF: mgf(sha1), Salt: 20, Trailer: 1}), CryptoConstraintsFail},
		"MGF hash differs":  {alg(params{Hash: sha256, MGF: mgf(sha384), Salt: 32, Trailer: 1}), CryptoConstraintsFail},
		"not MGF1":          {alg(params{Hash: sha256, MGF: sha256, Salt: 32, Trailer: 1}), CryptoConstraintsFail},
		"trailer 2":         {alg(params{Hash: sha256, MGF: mgf(sha256), Salt: 32, Trailer: 2}), FormatFailure},
		"negative salt":     {alg(params{Hash: sha256, MGF: mgf(sha256), Salt: -1, Trailer: 1}), FormatFailure},
		"not a SEQUENCE":    {pkix.AlgorithmIdentifier{Algorithm: oidRSAPSS, Parameters: asn1.RawValue{FullBytes: []byte{0x05, 0x00}}}, FormatFailure},
		"trailing octets":   {pkix.AlgorithmIdentifier{Algorithm: oidRSAPSS, Parameters: asn1.RawValue{FullBytes: append(alg(params{Hash: sha256, MGF: mgf(sha256), Salt: 32, Trailer: 1}).Parameters.FullBytes, 0)}}, FormatFailure},
		"MGF1 hash garbled": {alg(params{Hash: sha256, MGF: pkix.AlgorithmIdentifier{Algorithm: oidMGF1, Parameters: asn1.RawValue{FullBytes: []byte{0x02, 0x01, 0x01}}}, Salt: 32, Trailer: 1}), FormatFailure},
	} {
		_, err := parsePSSParams(c.a)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if st := pssStatus(err); st.SubIndication != c.sub || st.Reason == "" {
			t.Errorf("%s: %s/%s %q, want %s", name, st.Indication, st.SubIndication, st.Reason, c.sub)
		}
	}
}
