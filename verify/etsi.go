package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"strings"
	"time"
)

// The ETSI TS 119 102-2 v1.2.1 validation report: the namespace, the URIs
// of its indications, validation object types and types of proof.
// verify/schema holds an XSD of the report; etsi_schema_test.go validates
// the reports written here against it.
const (
	ETSINamespace      = "http://uri.etsi.org/19102/v1.2.1#"
	xmldsigNamespace   = "http://www.w3.org/2000/09/xmldsig#"
	tslNamespace       = "http://uri.etsi.org/02231/v2#"
	mainIndicationURI  = "urn:etsi:019102:mainindication:"
	subIndicationURI   = "urn:etsi:019102:subindication:"
	objectTypeURI      = "urn:etsi:019102:validationObject:"
	poeValidationURI   = "urn:etsi:019102:poetype:validation"
	revocationReasonNS = "urn:etsi:019102:revocationReason:"
	validationProcessB = "urn:etsi:019102:validationprocess:Basic"
	validationProcessT = "urn:etsi:019102:validationprocess:LTVM"
	sha256URI          = "http://www.w3.org/2001/04/xmlenc#sha256"
)

type xReport struct {
	XMLName    xml.Name    `xml:"ValidationReport"`
	NS         string      `xml:"xmlns,attr"`
	DS         string      `xml:"xmlns:ds,attr"`
	Signatures []xSigRep   `xml:"SignatureValidationReport"`
	Objects    *xObjects   `xml:"SignatureValidationObjects,omitempty"`
	Validator  *xValidator `xml:"SignatureValidator,omitempty"`
}

// xValidator is SignatureValidator: a TS 119 612 DigitalIdentityType,
// whose elements are in the trusted-list namespace.
type xValidator struct {
	ID xDigitalID `xml:"DigitalId"`
}

type xDigitalID struct {
	Name string `xml:"http://uri.etsi.org/02231/v2# X509SubjectName"`
}

// The element order of each struct is the schema's sequence.
type xSigRep struct {
	Identifier xSigID      `xml:"SignatureIdentifier"`
	TimeInfo   xTimeInfo   `xml:"ValidationTimeInfo"`
	Document   *xSignersD  `xml:"SignersDocument,omitempty"`
	Attributes *xSigAttrs  `xml:"SignatureAttributes,omitempty"`
	Signer     *xSigner    `xml:"SignerInformation,omitempty"`
	Quality    *xQuality   `xml:"SignatureQuality,omitempty"`
	Process    xProcess    `xml:"SignatureValidationProcess"`
	Status     xValidation `xml:"SignatureValidationStatus"`
}

type xSigID struct {
	ID          string      `xml:"id,attr"`
	DigestAlg   xDigestAlgV `xml:"DigestAlgAndValue"`
	SigValue    string      `xml:"ds:SignatureValue,omitempty"`
	HashOnly    bool        `xml:"HashOnly"`
	DocHashOnly bool        `xml:"DocHashOnly"`
}

// xDigestAlgV is XAdES' DigestAlgAndValueType; Value is base64.
type xDigestAlgV struct {
	Method xMethod `xml:"ds:DigestMethod"`
	Value  string  `xml:"ds:DigestValue"`
}

func sha256Of(b []byte) xDigestAlgV {
	h := sha256.Sum256(b)
	return xDigestAlgV{Method: xMethod{sha256URI}, Value: base64.StdEncoding.EncodeToString(h[:])}
}

type xMethod struct {
	Algorithm string `xml:"Algorithm,attr"`
}

type xTimeInfo struct {
	ValidationTime string `xml:"ValidationTime"`
	BestTime       xPOE   `xml:"BestSignatureTime"`
}

type xPOE struct {
	Time  string `xml:"POETime"`
	Proof string `xml:"TypeOfProof"`
	Ref   *xRef  `xml:"POEObject,omitempty"`
}

type xRef struct {
	VORef string `xml:"VOReference,attr"`
}

type xSignersD struct {
	Digest xDigestAlgV `xml:"DigestAlgAndValue"`
	Ref    *xRef       `xml:"SignersDocumentRef,omitempty"`
}

type xSigAttrs struct {
	SigningTime *xTime    `xml:"SigningTime,omitempty"`
	SigningCert *xCertIDs `xml:"SigningCertificate,omitempty"`
	Timestamp   *xTSAttr  `xml:"SignatureTimeStamp,omitempty"`
}

type xTime struct {
	Signed bool   `xml:"Signed,attr"`
	Time   string `xml:"Time"`
}

// xCertIDs is SACertIDListType: the signingCertificateV2 attribute, the
// certificate it names and its digest.
type xCertIDs struct {
	Signed bool        `xml:"Signed,attr"`
	Object xRef        `xml:"AttributeObject"`
	CertID xDigestAlgV `xml:"CertID"`
}

// xTSAttr is SATimestampType: the token and its time.
type xTSAttr struct {
	Signed bool   `xml:"Signed,attr"`
	Object xRef   `xml:"AttributeObject"`
	Time   string `xml:"TimeStampValue"`
}

type xSigner struct {
	Cert   xRef   `xml:"SignerCertificate"`
	Signer string `xml:"Signer"`
}

type xQuality struct {
	Info []string `xml:"SignatureQualityInformation"`
}

type xProcess struct {
	ID string `xml:"SignatureValidationProcessID"`
}

type xValidation struct {
	Main string   `xml:"MainIndication"`
	Sub  []string `xml:"SubIndication,omitempty"`
	Data []xAssoc `xml:"AssociatedValidationReportData,omitempty"`
}

// xAssoc is ValidationReportDataType: the chain and the revocation and
// timestamp objects used; RevocationStatusInformation (at most one per
// element, and only for a revoked certificate) says which was revoked.
type xAssoc struct {
	Chain      *xChain `xml:"CertificateChain,omitempty"`
	Related    []xRef  `xml:"RelatedValidationObject,omitempty"`
	Revocation *xRev   `xml:"RevocationStatusInformation,omitempty"`
}

type xChain struct {
	Signing      xRef   `xml:"SigningCertificate"`
	Intermediate []xRef `xml:"IntermediateCertificate"`
	Anchor       *xRef  `xml:"TrustAnchor,omitempty"`
}

type xRev struct {
	Object xRef   `xml:"ValidationObjectId"`
	Time   string `xml:"RevocationTime"`
	Reason string `xml:"RevocationReason,omitempty"`
	RevObj *xRef  `xml:"RevocationObject,omitempty"`
}

type xObjects struct {
	Objects []xObject `xml:"ValidationObject"`
}

type xObject struct {
	ID   string `xml:"id,attr"`
	Type string `xml:"ObjectType"`
	Repr xRepr  `xml:"ValidationObjectRepresentation"`
	POE  *xPOE  `xml:"POE,omitempty"`
}

// xRepr is one of the representation's choices: the object in base64, or
// (for the signed document) its digest.
type xRepr struct {
	Base64 string       `xml:"base64,omitempty"`
	Digest *xDigestAlgV `xml:"DigestAlgAndValue,omitempty"`
}

// ETSIReport writes r as an ETSI TS 119 102-2 validation report: each
// signer's identifier, validation time, status with main and
// sub-indication, certificate chain and the revocation data used, with the
// certificates, OCSP responses, CRLs and timestamps as validation objects.
func ETSIReport(r *Report) ([]byte, error) {
	x := xReport{NS: ETSINamespace, DS: xmldsigNamespace, Validator: &xValidator{ID: xDigitalID{Name: "Muhr validation service"}}}
	objs := &xObjects{}
	ids := map[[32]byte]string{}
	prefix := map[string]string{"certificate": "C", "OCSPResponse": "OCSP", "CRL": "CRL", "timestamp": "T", "signedData": "D"}
	add := func(kind string, key [32]byte, repr xRepr) string {
		if id, ok := ids[key]; ok {
			return id
		}
		id := fmt.Sprintf("%s-%d", prefix[kind], len(objs.Objects)+1)
		ids[key] = id
		objs.Objects = append(objs.Objects, xObject{ID: id, Type: objectTypeURI + kind, Repr: repr})
		return id
	}
	object := func(kind string, der []byte) string {
		return add(kind, sha256.Sum256(der), xRepr{Base64: base64.StdEncoding.EncodeToString(der)})
	}
	if r.Certificate != nil && len(r.Signatures) == 0 {
		return nil, fmt.Errorf("verify: the ETSI TS 119 102-2 report is for signatures; use JSON for a certificate")
	}
	vt := xmlTime(r.ValidationTime)
	// Without a proof of existence the best signature time is the
	// validation time (TS 119 102-2, basic validation).
	noPOE := xPOE{Time: vt, Proof: poeValidationURI}
	if len(r.Signatures) == 0 {
		// A blob that is no signature at all still gets a report.
		x.Signatures = append(x.Signatures, xSigRep{Identifier: xSigID{ID: "S-0", DigestAlg: xDigestAlgV{Method: xMethod{sha256URI}}},
			TimeInfo: xTimeInfo{ValidationTime: vt, BestTime: noPOE}, Process: xProcess{validationProcessB},
			Status: status(r.Status, nil)})
	}
	var doc *xSignersD
	if h, err := hex.DecodeString(r.DocumentSHA256); err == nil && len(h) == sha256.Size {
		d := xDigestAlgV{Method: xMethod{sha256URI}, Value: base64.StdEncoding.EncodeToString(h)}
		doc = &xSignersD{Digest: d}
		// Keyed apart from objects whose DER has this digest.
		doc.Ref = &xRef{add("signedData", sha256.Sum256(append([]byte("document:"), h...)), xRepr{Digest: &d})}
	}
	for _, s := range r.Signatures {
		sr := xSigRep{
			Identifier: xSigID{ID: s.ID, DigestAlg: sha256Of(s.SignatureValue)},
			TimeInfo:   xTimeInfo{ValidationTime: vt, BestTime: noPOE},
			Document:   doc,
			Process:    xProcess{validationProcessB},
		}
		attrs := &xSigAttrs{}
		if s.SigningTime != nil {
			attrs.SigningTime = &xTime{Time: xmlTime(*s.SigningTime), Signed: true}
		}
		assoc := xAssoc{}
		if s.Token != nil {
			id := object("timestamp", s.Token)
			assoc.Related = append(assoc.Related, xRef{id})
			sr.Process.ID = validationProcessT
			if ts := s.Timestamp; ts != nil && !ts.GenTime.IsZero() {
				attrs.Timestamp = &xTSAttr{Signed: false, Object: xRef{id}, Time: xmlTime(ts.GenTime)}
				if ts.Indication == Passed {
					sr.TimeInfo.BestTime = xPOE{Time: xmlTime(ts.GenTime), Proof: poeValidationURI, Ref: &xRef{id}}
				}
			}
		}
		var revoked []xRev
		if c := s.Certificate; c != nil {
			if len(c.Chain) > 0 {
				ch := &xChain{Signing: xRef{object("certificate", c.Chain[0].DER)}}
				for i, cc := range c.Chain[1:] {
					ref := xRef{object("certificate", cc.DER)}
					if i == len(c.Chain)-2 && cc.Anchor {
						ch.Anchor = &ref
					} else {
						ch.Intermediate = append(ch.Intermediate, ref)
					}
				}
				assoc.Chain = ch
				attrs.SigningCert = &xCertIDs{Signed: true, Object: ch.Signing, CertID: sha256Of(c.Chain[0].DER)}
				sr.Signer = &xSigner{Cert: ch.Signing, Signer: s.Signer}
			}
			for _, a := range c.Revocation {
				if a.DER == nil || a.Error != "" {
					continue
				}
				kind := "OCSPResponse"
				if a.Source == "CRL" {
					kind = "CRL"
				}
				rev := object(kind, a.DER)
				assoc.Related = append(assoc.Related, xRef{rev})
				if a.RevokedAt != nil {
					if cert := certRef(c, a, object); cert != "" {
						revoked = append(revoked, xRev{Object: xRef{cert}, Time: xmlTime(*a.RevokedAt),
							Reason: revocationReasonNS + reasonName(a.Reason), RevObj: &xRef{rev}})
					}
				}
			}
			if q := c.Qualification; q != nil {
				info := "urn:cef:dss:signatureQualification:notQualified"
				switch {
				case q.Qualified && q.QSCD && q.Type == "eseal":
					info = "urn:cef:dss:signatureQualification:QESeal"
				case q.Qualified && q.QSCD:
					info = "urn:cef:dss:signatureQualification:QESig"
				case q.Qualified && q.Type == "eseal":
					info = "urn:cef:dss:signatureQualification:AdESeal-QC"
				case q.Qualified:
					info = "urn:cef:dss:signatureQualification:AdESig-QC"
				}
				sr.Quality = &xQuality{Info: []string{info}}
			}
		}
		if attrs.SigningTime != nil || attrs.SigningCert != nil || attrs.Timestamp != nil {
			sr.Attributes = attrs
		}
		var data []xAssoc
		if assoc.Chain != nil || len(assoc.Related) > 0 {
			// The schema allows one revocation status per report data
			// element: the first revoked certificate goes with the chain,
			// any other in an element of its own.
			if len(revoked) > 0 {
				assoc.Revocation, revoked = &revoked[0], revoked[1:]
			}
			data = append(data, assoc)
		}
		for i := range revoked {
			data = append(data, xAssoc{Revocation: &revoked[i]})
		}
		sr.Status = status(s.Status, data)
		x.Signatures = append(x.Signatures, sr)
	}
	if len(objs.Objects) > 0 {
		x.Objects = objs
	}
	b, err := xml.MarshalIndent(x, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("verify: ETSI report: %w", err)
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// certRef is the validation object of the certificate a revocation answer
// is about.
func certRef(c *CertReport, a RevocationAnswer, object func(string, []byte) string) string {
	for _, cc := range c.Chain {
		if cc.Serial == a.Certificate {
			return object("certificate", cc.DER)
		}
	}
	return ""
}

func status(s Status, assoc []xAssoc) xValidation {
	v := xValidation{Main: mainIndicationURI + strings.ToLower(string(s.Indication)), Data: assoc}
	if s.SubIndication != "" {
		v.Sub = []string{subIndicationURI + string(s.SubIndication)}
	}
	return v
}

func xmlTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func reasonName(r int) string {
	names := []string{"unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
		"cessationOfOperation", "certificateHold", "", "removeFromCRL", "privilegeWithdrawn", "aACompromise"}
	if r >= 0 && r < len(names) && names[r] != "" {
		return names[r]
	}
	return "unspecified"
}
