package verify_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/verify"
)

// The ETSI report's element structure: what TS 119 102-2 names, in its
// namespace, nested as its schema nests them.
func TestETSIReportStructure(t *testing.T) {
	p := newSoftPKI(t)
	cert, key := p.signer(t, nil)
	rep := p.validator(t, nil).Signature(context.Background(), p.sign(t, doc, cert, key, true, false), doc, nil)
	want(t, rep.Status, verify.Passed, "")
	b, err := verify.ETSIReport(rep)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	ids := map[string]bool{}
	var refs []string
	d := xml.NewDecoder(bytes.NewReader(b))
	var stack []string
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if e.Name.Local == "ValidationReport" && e.Name.Space != verify.ETSINamespace {
				t.Fatalf("namespace %q", e.Name.Space)
			}
			stack = append(stack, e.Name.Local)
			paths = append(paths, strings.Join(stack, "/"))
			for _, a := range e.Attr {
				switch a.Name.Local {
				case "id":
					ids[a.Value] = true
				case "VOReference":
					refs = append(refs, a.Value)
				}
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	all := strings.Join(paths, "\n")
	for _, p := range []string{
		"ValidationReport/SignatureValidationReport/SignatureIdentifier/DigestAlgAndValue/DigestMethod",
		"ValidationReport/SignatureValidationReport/SignatureIdentifier/DigestAlgAndValue/DigestValue",
		"ValidationReport/SignatureValidationReport/ValidationTimeInfo/ValidationTime",
		"ValidationReport/SignatureValidationReport/ValidationTimeInfo/BestSignatureTime/POETime",
		"ValidationReport/SignatureValidationReport/SignatureAttributes/SigningTime/Time",
		"ValidationReport/SignatureValidationReport/SignatureAttributes/SigningCertificate",
		"ValidationReport/SignatureValidationReport/SignatureAttributes/SignatureTimeStamp",
		"ValidationReport/SignatureValidationReport/SignerInformation/SignerCertificate",
		"ValidationReport/SignatureValidationReport/SignatureValidationProcess/SignatureValidationProcessID",
		"ValidationReport/SignatureValidationReport/SignatureValidationStatus/MainIndication",
		"ValidationReport/SignatureValidationReport/SignatureValidationStatus/AssociatedValidationReportData/CertificateChain/SigningCertificate",
		"ValidationReport/SignatureValidationReport/SignatureValidationStatus/AssociatedValidationReportData/CertificateChain/IntermediateCertificate",
		"ValidationReport/SignatureValidationReport/SignatureValidationStatus/AssociatedValidationReportData/CertificateChain/TrustAnchor",
		"ValidationReport/SignatureValidationReport/SignatureValidationStatus/AssociatedValidationReportData/RevocationStatusInformation/ValidationObjectId",
		"ValidationReport/SignatureValidationReport/SignatureValidationStatus/AssociatedValidationReportData/RevocationStatusInformation/RevocationObject",
		"ValidationReport/SignatureValidationObjects/ValidationObject/ObjectType",
		"ValidationReport/SignatureValidationObjects/ValidationObject/ValidationObjectRepresentation/base64",
	} {
		if !strings.Contains(all, p+"\n") && !strings.HasSuffix(all, p) {
			t.Errorf("no %s", p)
		}
	}
	for _, r := range refs {
		if !ids[r] {
			t.Errorf("VOReference %q names no ValidationObject", r)
		}
	}
	for _, s := range []string{"urn:etsi:019102:mainindication:total-passed", "urn:etsi:019102:validationObject:OCSPResponse",
		"urn:etsi:019102:validationObject:certificate", "urn:etsi:019102:validationObject:timestamp"} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("no %s", s)
		}
	}
	// A failure carries its sub-indication URI.
	p.revoke(cert, time.Now().Add(-48*time.Hour))
	rep = p.validator(t, nil).Signature(context.Background(), p.sign(t, doc, cert, key, true, false), doc, nil)
	b, _ = verify.ETSIReport(rep)
	if !bytes.Contains(b, []byte("urn:etsi:019102:mainindication:total-failed")) || !bytes.Contains(b, []byte("urn:etsi:019102:subindication:REVOKED")) {
		t.Fatalf("revoked report:\n%s", b)
	}
	var text bytes.Buffer
	verify.WriteText(&text, rep)
	if !strings.HasPrefix(text.String(), "TOTAL-FAILED/REVOKED") {
		t.Fatalf("text:\n%s", text.String())
	}
}
