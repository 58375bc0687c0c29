package verify_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"regexp"
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
	// Objects are in base64 (encoding/xml writes a []byte raw).
	if !bytes.Contains(b, []byte("<base64>"+base64.StdEncoding.EncodeToString(cert.Raw)+"</base64>")) {
		t.Errorf("the signer's certificate is not a base64 validation object")
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
		"ValidationReport/SignatureValidationReport/SignatureAttributes/SigningCertificate/AttributeObject",
		"ValidationReport/SignatureValidationReport/SignatureAttributes/SignatureTimeStamp/TimeStampValue",
		"ValidationReport/SignatureValidationReport/SignerInformation/SignerCertificate",
		"ValidationReport/SignatureValidationReport/SignatureValidationProcess/SignatureValidationProcessID",
		"ValidationReport/SignatureValidationReport/SignatureValidationStatus/MainIndication",
		"ValidationReport/SignatureValidationReport/SignatureValidationStatus/AssociatedValidationReportData/CertificateChain/SigningCertificate",
		"ValidationReport/SignatureValidationReport/SignatureValidationStatus/AssociatedValidationReportData/CertificateChain/IntermediateCertificate",
		"ValidationReport/SignatureValidationReport/SignatureValidationStatus/AssociatedValidationReportData/CertificateChain/TrustAnchor",
		"ValidationReport/SignatureValidationReport/SignatureValidationStatus/AssociatedValidationReportData/RelatedValidationObject",
		"ValidationReport/SignatureValidationReport/SignersDocument/SignersDocumentRef",
		"ValidationReport/SignatureValidationReport/SignatureAttributes/SigningCertificate/CertID/DigestValue",
		"ValidationReport/SignatureValidator/DigitalId/X509SubjectName",
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
	// The revoked certificate's status, with the answer that says so.
	rsi := regexp.MustCompile(`(?s)<RevocationStatusInformation>\s*<ValidationObjectId VOReference="C-\d+"></ValidationObjectId>\s*` +
		`<RevocationTime>[^<]+</RevocationTime>\s*<RevocationReason>urn:etsi:019102:revocationReason:keyCompromise</RevocationReason>\s*` +
		`<RevocationObject VOReference="OCSP-\d+"></RevocationObject>`)
	if !rsi.Match(b) {
		t.Fatalf("no RevocationStatusInformation for the revoked signer:\n%s", b)
	}
	var text bytes.Buffer
	verify.WriteText(&text, rep)
	if !strings.HasPrefix(text.String(), "TOTAL-FAILED/REVOKED") {
		t.Fatalf("text:\n%s", text.String())
	}
}
