package verify

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/muhr-pki/muhr/internal/cms"
)

// RSASSA-PSS (RFC 4055 section 3.1, RFC 4056 for CMS).
var oidMGF1 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}

// pssParams are the RSASSA-PSS-params a signer used.
type pssParams struct {
	Hash       crypto.Hash
	SaltLength int
}

// errPSSFormat marks params that are not a well-formed RSASSA-PSS-params;
// other errors are well-formed params this validator does not accept.
var errPSSFormat = errors.New("malformed RSASSA-PSS-params")

// parsePSSParams reads RSASSA-PSS-params strictly. Each field is explicit
// here: the defaults (SHA-1, MGF1 with SHA-1, salt 20) are SHA-1, which
// is not accepted, and a mask generation hash other than the message
// hash is not something crypto/rsa verifies, nor RFC 4055 recommends.
func parsePSSParams(alg pkix.AlgorithmIdentifier) (pssParams, error) {
	var raw struct {
		Hash    pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:0"`
		MGF     pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:1"`
		Salt    int                      `asn1:"optional,explicit,tag:2,default:20"`
		Trailer int                      `asn1:"optional,explicit,tag:3,default:1"`
	}
	if len(alg.Parameters.FullBytes) == 0 {
		return pssParams{}, errors.New("RSASSA-PSS without parameters means SHA-1, which is not accepted")
	}
	if err := unmarshalAll(alg.Parameters.FullBytes, &raw); err != nil {
		return pssParams{}, fmt.Errorf("%w: %v", errPSSFormat, err)
	}
	if len(raw.Hash.Algorithm) == 0 {
		return pssParams{}, errors.New("RSASSA-PSS with the default hash SHA-1 is not accepted")
	}
	h := cms.HashOf(raw.Hash.Algorithm)
	if h == 0 {
		return pssParams{}, fmt.Errorf("RSASSA-PSS hash %s is not accepted (SHA-256/384/512 are)", raw.Hash.Algorithm)
	}
	if len(raw.MGF.Algorithm) == 0 {
		return pssParams{}, errors.New("RSASSA-PSS with the default mask generation MGF1-SHA-1 is not accepted")
	}
	if !raw.MGF.Algorithm.Equal(oidMGF1) {
		return pssParams{}, fmt.Errorf("RSASSA-PSS mask generation %s is not accepted (MGF1 is)", raw.MGF.Algorithm)
	}
	var mgfHash pkix.AlgorithmIdentifier
	if err := unmarshalAll(raw.MGF.Parameters.FullBytes, &mgfHash); err != nil {
		return pssParams{}, fmt.Errorf("%w: MGF1 hash: %v", errPSSFormat, err)
	}
	if !mgfHash.Algorithm.Equal(raw.Hash.Algorithm) {
		return pssParams{}, fmt.Errorf("RSASSA-PSS MGF1 hash %s differs from the message hash %s: not accepted", mgfHash.Algorithm, raw.Hash.Algorithm)
	}
	if raw.Salt < 0 {
		return pssParams{}, fmt.Errorf("%w: negative salt length %d", errPSSFormat, raw.Salt)
	}
	if raw.Trailer != 1 {
		return pssParams{}, fmt.Errorf("%w: trailerField %d (only 1, 0xBC, is defined)", errPSSFormat, raw.Trailer)
	}
	return pssParams{Hash: h, SaltLength: raw.Salt}, nil
}

// pssStatus turns a params error into the verdict: malformed params are
// a format failure, well-formed ones we do not accept fail the
// cryptographic constraints (EN 319 102-1 5.2.8), as other algorithms do.
func pssStatus(err error) Status {
	if errors.Is(err, errPSSFormat) {
		return Status{Indication: Failed, SubIndication: FormatFailure, Reason: err.Error()}
	}
	return Status{Indication: Indeterminate, SubIndication: CryptoConstraintsFail, Reason: err.Error()}
}

// checkPSS verifies an RSASSA-PSS signature over signed with cert's key,
// with the salt length the params state (exactly: a signature made with
// another salt length does not verify).
func checkPSS(cert *x509.Certificate, p pssParams, signed, sig []byte) error {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("an RSASSA-PSS signature from a certificate without an RSA key")
	}
	d := p.Hash.New()
	d.Write(signed)
	return rsa.VerifyPSS(pub, p.Hash, d.Sum(nil), sig, &rsa.PSSOptions{SaltLength: p.SaltLength, Hash: p.Hash})
}
