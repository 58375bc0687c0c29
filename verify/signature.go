package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/muhr-pki/muhr/internal/cms"
)

// SignedDataNotFound is the EN 319 102-1 sub-indication for a detached
// signature whose content was not given.
const SignedDataNotFound SubIndication = "SIGNED_DATA_NOT_FOUND"

// MaxSignatureBytes bounds a CMS blob given to Signature: a signature with
// its certificates and timestamp is a few kilobytes; attached content
// larger than this belongs in a detached signature.
const MaxSignatureBytes = 32 << 20

var (
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidRSAPSS  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
)

// Signature validates every signer of the CMS SignedData p7 (DER or BER).
// content is the signed document of a detached signature (nil when the
// signature is attached); extra are candidate intermediates.
func (v *Validator) Signature(ctx context.Context, p7, content []byte, extra []*x509.Certificate) *Report {
	return v.SignatureAt(ctx, p7, content, extra, v.clock())
}

// SignatureAt is Signature with the validation time at (EN 319 102-1's
// "current time", which the caller may set to a past moment to ask what the
// verdict was then): the signer's certificate is validated at it unless a
// signature timestamp gives an earlier proof of existence, and the TSA's
// certificate is always validated at it.
func (v *Validator) SignatureAt(ctx context.Context, p7, content []byte, extra []*x509.Certificate, at time.Time) *Report {
	now := at
	rep := &Report{Status: pass(), ValidationTime: now.UTC()}
	fail := func(st Status) *Report {
		rep.Status = st
		return rep
	}
	if len(p7) > MaxSignatureBytes {
		return fail(Status{Indication: Failed, SubIndication: FormatFailure,
			Reason: fmt.Sprintf("the signature is %d octets, over the %d limit", len(p7), MaxSignatureBytes)})
	}
	sd, err := cms.ParseSignedData(p7)
	if err != nil {
		return fail(Status{Indication: Failed, SubIndication: FormatFailure, Reason: "not a CMS SignedData: " + err.Error()})
	}
	data := sd.EContent
	switch {
	case data != nil && content != nil && !bytes.Equal(data, content):
		return fail(Status{Indication: Failed, SubIndication: FormatFailure,
			Reason: "the signature is attached and the given content differs from the content it holds"})
	case data == nil && content == nil:
		return fail(Status{Indication: Indeterminate, SubIndication: SignedDataNotFound,
			Reason: "the signature is detached: give the signed document (--content, or the content part)"})
	case data == nil:
		data = content
	}
	dh := sha256.Sum256(data)
	rep.DocumentSHA256 = hex.EncodeToString(dh[:])
	certs := parseAll(sd.Certificates)
	pool := append(append([]*x509.Certificate(nil), certs...), extra...)
	for i := range sd.Signers {
		sr := v.signer(ctx, sd, &sd.Signers[i], data, pool, now)
		sr.ID = fmt.Sprintf("S-%d", i+1)
		rep.Signatures = append(rep.Signatures, sr)
		rep.Status = worse(rep.Status, sr.Status)
	}
	if rep.Status.Indication != Passed && len(rep.Signatures) > 1 {
		rep.Status.Reason = "at least one signer: " + rep.Status.Reason
	}
	return rep
}

func parseAll(ders [][]byte) []*x509.Certificate {
	var out []*x509.Certificate
	for _, d := range ders {
		if c, err := x509.ParseCertificate(d); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// signer validates one SignerInfo.
func (v *Validator) signer(ctx context.Context, sd *cms.SignedData, si *cms.SignerInfo, data []byte, pool []*x509.Certificate, now time.Time) *SignatureReport {
	sr := &SignatureReport{Status: pass(), SignatureValue: si.Signature}
	cert := findSigner(si, pool)
	if cert == nil {
		sr.check("signingCertificate", false, "the signer's certificate is not in the signature nor given")
		sr.Status = Status{Indication: Indeterminate, SubIndication: NoSigningCertFound, Reason: "the signer's certificate was not found"}
		return sr
	}
	sr.Signer = cert.Subject.String()
	if st := v.checkSignerInfo(sr, sd.EContentType, si, data, cert, true); st.Indication != Passed {
		sr.Status = st
		return sr
	}
	// A signature timestamp is the proof of existence of the signature:
	// the signer's certificate is validated at its time.
	at, poe := now, false
	if vals, n := cms.Find(si.UnsignedAttrs, cms.OIDAttrSignatureTSToken); n > 0 {
		if n != 1 || len(vals) != 1 {
			sr.check("signatureTimestamp", false, "more than one signature timestamp")
		}
		sr.Token = vals[0]
		ts := v.timestamp(ctx, vals[0], si.Signature, pool, now)
		sr.Timestamp = ts
		if ts.Indication == Passed {
			at, poe = ts.GenTime, true
			sr.check("signatureTimestamp", true, "time of existence "+ts.GenTime.Format(time.RFC3339Nano))
		} else {
			sr.check("signatureTimestamp", false, ts.Reason)
			sr.Status = worse(sr.Status, Status{Indication: ts.Indication, SubIndication: ts.SubIndication,
				Reason: "signature timestamp: " + ts.Reason})
		}
	}
	cr := v.Certificate(ctx, cert, pool, at, poe, UsageSigning)
	sr.Certificate = cr
	if cr.Indication != Passed {
		sr.Status = worse(sr.Status, Status{Indication: cr.Indication, SubIndication: cr.SubIndication, Reason: "signer's certificate: " + cr.Reason})
	}
	return sr
}

// checkSignerInfo checks the signed attributes and the signature of si
// over data with cert. ess requires signingCertificateV2 (CAdES); a
// timestamp token may carry either version.
func (v *Validator) checkSignerInfo(sr *SignatureReport, eContentType asn1.ObjectIdentifier, si *cms.SignerInfo, data []byte, cert *x509.Certificate, cades bool) Status {
	h := cms.HashOf(si.DigestAlg.Algorithm)
	if h == 0 {
		sr.check("digestAlgorithm", false, si.DigestAlg.Algorithm.String())
		return Status{Indication: Indeterminate, SubIndication: CryptoConstraintsFail,
			Reason: fmt.Sprintf("digest algorithm %s is not accepted (SHA-256/384/512 are)", si.DigestAlg.Algorithm)}
	}
	sr.DigestAlgorithm = h.String()
	if si.SignedAttrsDER == nil {
		sr.check("signedAttributes", false, "none")
		return Status{Indication: Failed, SubIndication: FormatFailure, Reason: "the signer has no signed attributes (not CAdES)"}
	}
	ct, n := cms.Find(si.SignedAttrs, cms.OIDAttrContentType)
	var ctOID asn1.ObjectIdentifier
	if n != 1 || len(ct) != 1 || unmarshalAll(ct[0], &ctOID) != nil || !ctOID.Equal(eContentType) {
		sr.check("contentType", false, "missing, repeated or not the encapsulated content type")
		return Status{Indication: Failed, SubIndication: FormatFailure, Reason: "the contentType signed attribute is missing or wrong"}
	}
	sr.check("contentType", true, ctOID.String())
	md, n := cms.Find(si.SignedAttrs, cms.OIDAttrMessageDigest)
	var digest []byte
	if n != 1 || len(md) != 1 || unmarshalAll(md[0], &digest) != nil {
		sr.check("messageDigest", false, "missing or repeated")
		return Status{Indication: Failed, SubIndication: FormatFailure, Reason: "the messageDigest signed attribute is missing or repeated"}
	}
	d := h.New()
	d.Write(data)
	if !bytes.Equal(d.Sum(nil), digest) {
		sr.check("messageDigest", false, "does not match the content")
		return Status{Indication: Failed, SubIndication: HashFailure, Reason: "the signed content's digest does not match the messageDigest attribute: the document is not the one signed"}
	}
	sr.check("messageDigest", true, h.String()+" of the content")
	if st := checkSignatureValue(sr, si, cert, h); st.Indication != Passed {
		return st
	}
	if st := checkESS(sr, si, cert, cades); st.Indication != Passed {
		return st
	}
	if vals, n := cms.Find(si.SignedAttrs, cms.OIDAttrSigningTime); n == 1 && len(vals) == 1 {
		var t time.Time
		if unmarshalAll(vals[0], &t) == nil {
			t = t.UTC()
			sr.SigningTime = &t
			sr.check("signingTime", true, "claimed "+t.Format(time.RFC3339))
		} else {
			sr.check("signingTime", false, "does not parse")
			return Status{Indication: Failed, SubIndication: FormatFailure, Reason: "the signingTime attribute does not parse"}
		}
	} else if n > 1 {
		return Status{Indication: Failed, SubIndication: FormatFailure, Reason: "signingTime repeated"}
	}
	return pass()
}

// checkSignatureValue verifies the signature over the signed attributes.
func checkSignatureValue(sr *SignatureReport, si *cms.SignerInfo, cert *x509.Certificate, h crypto.Hash) Status {
	bad := func(err error) Status {
		sr.check("signature", false, err.Error())
		return Status{Indication: Failed, SubIndication: SigCryptoFailure, Reason: "the signature value does not verify with the signer's key over the signed attributes"}
	}
	if si.SigAlg.Algorithm.Equal(oidRSAPSS) {
		p, err := parsePSSParams(si.SigAlg)
		if err != nil {
			sr.check("signatureAlgorithm", false, err.Error())
			return pssStatus(err)
		}
		if err := checkPSS(cert, p, si.SignedAttrsDER, si.Signature); err != nil {
			return bad(err)
		}
		sr.check("signature", true, fmt.Sprintf("RSASSA-PSS %s MGF1-%s salt %d", p.Hash, p.Hash, p.SaltLength))
		return pass()
	}
	alg, err := signatureAlgorithm(si, cert, h)
	if err != nil {
		sr.check("signatureAlgorithm", false, err.Error())
		return Status{Indication: Indeterminate, SubIndication: CryptoConstraintsFail, Reason: err.Error()}
	}
	if err := cert.CheckSignature(alg, si.SignedAttrsDER, si.Signature); err != nil {
		return bad(err)
	}
	sr.check("signature", true, alg.String())
	return pass()
}

type essCertIDv2 struct {
	HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"`
	CertHash      []byte
	IssuerSerial  asn1.RawValue `asn1:"optional"`
}

type essCertID struct {
	CertHash     []byte
	IssuerSerial asn1.RawValue `asn1:"optional"`
}

// checkESS checks that signingCertificateV2 (or, for a timestamp token,
// the v1 signingCertificate) names cert: the signature is bound to the
// certificate, not only to its key.
func checkESS(sr *SignatureReport, si *cms.SignerInfo, cert *x509.Certificate, cades bool) Status {
	noCert := func(why string) Status {
		sr.check("signingCertificateV2", false, why)
		return Status{Indication: Indeterminate, SubIndication: NoSigningCertFound, Reason: why}
	}
	if vals, n := cms.Find(si.SignedAttrs, cms.OIDAttrSigningCertV2); n > 0 {
		var sc struct {
			Certs    []essCertIDv2
			Policies asn1.RawValue `asn1:"optional"`
		}
		if n != 1 || len(vals) != 1 || unmarshalAll(vals[0], &sc) != nil || len(sc.Certs) == 0 {
			return noCert("signingCertificateV2 does not parse")
		}
		h := crypto.SHA256
		if len(sc.Certs[0].HashAlgorithm.Algorithm) > 0 {
			if h = cms.HashOf(sc.Certs[0].HashAlgorithm.Algorithm); h == 0 {
				return noCert("signingCertificateV2 hash algorithm " + sc.Certs[0].HashAlgorithm.Algorithm.String() + " not accepted")
			}
		}
		d := h.New()
		d.Write(cert.Raw)
		if !bytes.Equal(d.Sum(nil), sc.Certs[0].CertHash) {
			return noCert("signingCertificateV2 names another certificate than the signer's")
		}
		sr.check("signingCertificateV2", true, h.String()+" of the signer's certificate")
		return pass()
	}
	if vals, n := cms.Find(si.SignedAttrs, cms.OIDAttrSigningCert); n > 0 && !cades {
		var sc struct {
			Certs    []essCertID
			Policies asn1.RawValue `asn1:"optional"`
		}
		if n != 1 || len(vals) != 1 || unmarshalAll(vals[0], &sc) != nil || len(sc.Certs) == 0 {
			return noCert("signingCertificate does not parse")
		}
		d := crypto.SHA1.New()
		d.Write(cert.Raw)
		if !bytes.Equal(d.Sum(nil), sc.Certs[0].CertHash) {
			return noCert("signingCertificate names another certificate than the signer's")
		}
		sr.check("signingCertificate", true, "SHA-1 of the signer's certificate")
		return pass()
	}
	return noCert("no signingCertificateV2 attribute: the signature is not bound to its certificate (CAdES-B requires it)")
}

func unmarshalAll(b []byte, v any) error {
	rest, err := asn1.Unmarshal(b, v)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("trailing octets")
	}
	return err
}

func findSigner(si *cms.SignerInfo, pool []*x509.Certificate) *x509.Certificate {
	for _, c := range pool {
		if si.SubjectKeyID != nil {
			if bytes.Equal(c.SubjectKeyId, si.SubjectKeyID) {
				return c
			}
			continue
		}
		if si.Serial != nil && c.SerialNumber.Cmp(si.Serial) == 0 && bytes.Equal(c.RawIssuer, si.Issuer) {
			return c
		}
	}
	return nil
}

// signatureAlgorithm maps the SignerInfo's algorithms to x509's.
func signatureAlgorithm(si *cms.SignerInfo, cert *x509.Certificate, h crypto.Hash) (x509.SignatureAlgorithm, error) {
	o := si.SigAlg.Algorithm
	pick := func(m map[crypto.Hash]x509.SignatureAlgorithm, hh crypto.Hash) (x509.SignatureAlgorithm, error) {
		if a, ok := m[hh]; ok {
			return a, nil
		}
		return 0, fmt.Errorf("signature algorithm %s with %s is not accepted", o, hh)
	}
	rsa := map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA256: x509.SHA256WithRSA, crypto.SHA384: x509.SHA384WithRSA, crypto.SHA512: x509.SHA512WithRSA}
	ec := map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA256: x509.ECDSAWithSHA256, crypto.SHA384: x509.ECDSAWithSHA384, crypto.SHA512: x509.ECDSAWithSHA512}
	switch {
	case o.Equal(cms.OIDRSAEncryption):
		return pick(rsa, h)
	case o.Equal(cms.OIDSHA256WithRSA):
		return x509.SHA256WithRSA, nil
	case o.Equal(cms.OIDSHA384WithRSA):
		return x509.SHA384WithRSA, nil
	case o.Equal(cms.OIDSHA512WithRSA):
		return x509.SHA512WithRSA, nil
	case o.Equal(cms.OIDECPublicKey):
		return pick(ec, h)
	case o.Equal(cms.OIDECDSAWithSHA256):
		return x509.ECDSAWithSHA256, nil
	case o.Equal(cms.OIDECDSAWithSHA384):
		return x509.ECDSAWithSHA384, nil
	case o.Equal(cms.OIDECDSAWithSHA512):
		return x509.ECDSAWithSHA512, nil
	case o.Equal(oidEd25519):
		return x509.PureEd25519, nil
	}
	return 0, fmt.Errorf("signature algorithm %s is not accepted", o)
}

// timestamp validates an RFC 3161 TimeStampToken over the signature value
// sigValue: its own signature, its imprint, and its TSA's certificate.
func (v *Validator) timestamp(ctx context.Context, token, sigValue []byte, pool []*x509.Certificate, at time.Time) *TimestampReport {
	tr := &TimestampReport{Status: pass()}
	fail := func(st Status) *TimestampReport {
		tr.Status = st
		return tr
	}
	sd, info, err := cms.ParseTimeStampToken(token)
	if err != nil {
		return fail(Status{Indication: Failed, SubIndication: FormatFailure, Reason: "the signature timestamp is not an RFC 3161 token: " + err.Error()})
	}
	tr.GenTime, tr.Policy, tr.Serial = info.GenTime.UTC(), info.Policy.String(), info.SerialNumber.Text(16)
	h := cms.HashOf(info.MessageImprint.HashAlgorithm.Algorithm)
	if h == 0 {
		return fail(Status{Indication: Indeterminate, SubIndication: CryptoConstraintsFail, Reason: "timestamp imprint algorithm " + info.MessageImprint.HashAlgorithm.Algorithm.String() + " not accepted"})
	}
	d := h.New()
	d.Write(sigValue)
	if !bytes.Equal(d.Sum(nil), info.MessageImprint.HashedMessage) {
		tr.Checks = append(tr.Checks, Check{Name: "messageImprint", OK: false, Detail: "not the digest of the signature value"})
		return fail(Status{Indication: Failed, SubIndication: HashFailure, Reason: "the timestamp's message imprint is not the digest of this signature value"})
	}
	tr.Checks = append(tr.Checks, Check{Name: "messageImprint", OK: true, Detail: h.String() + " of the signature value"})
	all := append(parseAll(sd.Certificates), pool...)
	si := &sd.Signers[0]
	tsaCert := findSigner(si, all)
	if tsaCert == nil {
		return fail(Status{Indication: Indeterminate, SubIndication: NoSigningCertFound, Reason: "the TSA's certificate is not in the token nor given"})
	}
	sub := &SignatureReport{}
	st := v.checkSignerInfo(sub, sd.EContentType, si, sd.EContent, tsaCert, false)
	tr.Checks = append(tr.Checks, sub.Checks...)
	if st.Indication != Passed {
		return fail(st)
	}
	if info.GenTime.Before(tsaCert.NotBefore) || info.GenTime.After(tsaCert.NotAfter) {
		return fail(Status{Indication: Failed, SubIndication: FormatFailure, Reason: "genTime is outside the TSA certificate's validity"})
	}
	if info.GenTime.After(at) {
		return fail(Status{Indication: Indeterminate, SubIndication: OutOfBoundsNoPOE,
			Reason: fmt.Sprintf("genTime %s is after the validation time %s: the timestamp did not exist then",
				info.GenTime.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))})
	}
	// The TSA's certificate is validated at the validation time, not at
	// genTime (EN 319 102-1 5.4, time-stamp validation, and 5.6.2.4, past
	// signature validation: genTime is the TSA's own claim, so it is no
	// proof of existence of the token itself; only a later timestamp over
	// it, CAdES-A, not made here, could be). So a TSA certificate expired
	// or revoked before the validation time gives OUT_OF_BOUNDS_NO_POE or
	// REVOKED_NO_POE, whatever the revocation reason.
	cr := v.Certificate(ctx, tsaCert, all, at, false, UsageTimestamping)
	tr.Certificate = cr
	if cr.Indication != Passed {
		return fail(Status{Indication: cr.Indication, SubIndication: cr.SubIndication, Reason: "TSA certificate: " + cr.Reason})
	}
	return tr
}
