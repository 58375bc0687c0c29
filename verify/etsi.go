package verify

import (
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"strings"
	"time"
)

// The ETSI TS 119 102-2 v1.2.1 validation report: the namespace, the URIs
// of its indications and validation object types.
const (
	ETSINamespace      = "http://uri.etsi.org/19102/v1.2.1#"
	xmldsigNamespace   = "http://www.w3.org/2000/09/xmldsig#"
	mainIndicationURI  = "urn:etsi:019102:mainindication:"
	subIndicationURI   = "urn:etsi:019102:subindication:"
	objectTypeURI      = "urn:etsi:019102:validationObject:"
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

type xValidator struct {
	Name string `xml:"DigitalId>X509SubjectName"`
}

type xSigRep struct {
	Identifier xSigID      `xml:"SignatureIdentifier"`
	TimeInfo   xTimeInfo   `xml:"ValidationTimeInfo"`
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

type xDigestAlgV struct {
	Method xMethod `xml:"ds:DigestMethod"`
	Value  []byte  `xml:"ds:DigestValue"`
}

type xMethod struct {
	Algorithm string `xml:"Algorithm,attr"`
}

type xTimeInfo struct {
	ValidationTime string `xml:"ValidationTime"`
	BestTime       *xPOE  `xml:"BestSignatureTime,omitempty"`
}

type xPOE struct {
	Time  string `xml:"POETime"`
	Proof string `xml:"TypeOfProof"`
	Ref   *xRef  `xml:"POEObject,omitempty"`
}

type xRef struct {
	VORef string `xml:"VOReference,attr"`
}

type xSigAttrs struct {
	SigningTime *xTime `xml:"SigningTime,omitempty"`
	SigningCert *xRef  `xml:"SigningCertificate,omitempty"`
	Timestamp   *xRef  `xml:"SignatureTimeStamp,omitempty"`
}

type xTime struct {
	Time   string `xml:"Time"`
	Signed bool   `xml:"Signed,attr"`
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
	Data *xAssoc  `xml:"AssociatedValidationReportData,omitempty"`
}

type xAssoc struct {
	Chain      *xChain `xml:"CertificateChain,omitempty"`
	Revocation []xRev  `xml:"RevocationStatusInformation,omitempty"`
}

type xChain struct {
	Signing      xRef   `xml:"SigningCertificate"`
	Intermediate []xRef `xml:"IntermediateCertificate"`
	Anchor       *xRef  `xml:"TrustAnchor,omitempty"`
}

type xRev struct {
	Object xRef   `xml:"ValidationObjectId"`
	Time   string `xml:"RevocationTime,omitempty"`
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

type xRepr struct {
	Base64 []byte `xml:"base64"`
}

// ETSIReport writes r as an ETSI TS 119 102-2 validation report: each
// signer's identifier, validation time, status with main and
// sub-indication, certificate chain and the revocation data used, with the
// certificates, OCSP responses, CRLs and timestamps as validation objects.
func ETSIReport(r *Report) ([]byte, error) {
	x := xReport{NS: ETSINamespace, DS: xmldsigNamespace, Validator: &xValidator{Name: "Muhr validation service"}}
	objs := &xObjects{}
	ids := map[[32]byte]string{}
	object := func(kind string, der []byte) string {
		h := sha256.Sum256(der)
		if id, ok := ids[h]; ok {
			return id
		}
		prefix := map[string]string{"certificate": "C", "OCSPResponse": "OCSP", "CRL": "CRL", "timestamp": "T"}[kind]
		id := fmt.Sprintf("%s-%d", prefix, len(objs.Objects)+1)
		ids[h] = id
		objs.Objects = append(objs.Objects, xObject{ID: id, Type: objectTypeURI + kind, Repr: xRepr{Base64: der}})
		return id
	}
	if r.Certificate != nil && len(r.Signatures) == 0 {
		return nil, fmt.Errorf("verify: the ETSI TS 119 102-2 report is for signatures; use JSON for a certificate")
	}
	if len(r.Signatures) == 0 {
		// A blob that is no signature at all still gets a report.
		x.Signatures = append(x.Signatures, xSigRep{Identifier: xSigID{ID: "S-0", DigestAlg: xDigestAlgV{Method: xMethod{sha256URI}}},
			TimeInfo: xTimeInfo{ValidationTime: xmlTime(r.ValidationTime)}, Process: xProcess{validationProcessB},
			Status: status(r.Status, nil)})
	}
	for _, s := range r.Signatures {
		h := sha256.Sum256(s.SignatureValue)
		sr := xSigRep{
			Identifier: xSigID{ID: s.ID, DigestAlg: xDigestAlgV{Method: xMethod{sha256URI}, Value: h[:]}},
			TimeInfo:   xTimeInfo{ValidationTime: xmlTime(r.ValidationTime)},
			Process:    xProcess{validationProcessB},
		}
		attrs := &xSigAttrs{}
		if s.SigningTime != nil {
			attrs.SigningTime = &xTime{Time: xmlTime(*s.SigningTime), Signed: true}
		}
		if s.Token != nil {
			id := object("timestamp", s.Token)
			attrs.Timestamp = &xRef{id}
			sr.Process.ID = validationProcessT
			if s.Timestamp != nil && s.Timestamp.Indication == Passed {
				sr.TimeInfo.BestTime = &xPOE{Time: xmlTime(s.Timestamp.GenTime), Proof: "validation", Ref: &xRef{id}}
			}
		}
		var assoc *xAssoc
		if c := s.Certificate; c != nil {
			assoc = &xAssoc{}
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
				attrs.SigningCert = &xRef{ch.Signing.VORef}
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
				rv := xRev{Object: xRef{certRef(c, a, object)}, RevObj: &xRef{object(kind, a.DER)}}
				if a.RevokedAt != nil {
					rv.Time, rv.Reason = xmlTime(*a.RevokedAt), reasonName(a.Reason)
				}
				assoc.Revocation = append(assoc.Revocation, rv)
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
		sr.Status = status(s.Status, assoc)
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

func status(s Status, assoc *xAssoc) xValidation {
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
