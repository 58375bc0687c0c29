package ca_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/muhr-pki/muhr/ca"
)

// The audit records of an issuance name the subject as people read it
// (RFC 4514 with UTF-8), like the certificates table, not Go's hex form.
func TestAuditSubjectReadable(t *testing.T) {
	ctx := context.Background()
	c := newCenter(t, "sqlite")
	qca := c.issuer(t, "qca-demo", c.keys, nil)
	cert, err := qca.IssueRequest(ctx, ca.Request{ID: "qes-audit-1", Profile: "qes-person", CSR: csrFor(t, newKey(t), nil),
		Identity: identity(t, personJSON), Actor: "officer-a"})
	if err != nil {
		t.Fatal(err)
	}
	const want = "CN=Раҳимов Ҷамшед Ғафурович,serialNumber=PNOTJ-123456789012,givenName=Ҷамшед Ғафурович,SN=Раҳимов,C=TJ"
	obj := fmt.Sprintf("cert/qca-demo/%x", cert.SerialNumber)
	recs, err := c.st.AuditRecords(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Object != obj {
			continue
		}
		var d struct {
			Subject string `json:"subject"`
		}
		if err := json.Unmarshal(r.Details, &d); err != nil {
			t.Fatal(err)
		}
		if d.Subject != want {
			t.Errorf("%s record's subject %q, want %q", r.Action, d.Subject, want)
		}
		seen[r.Action] = true
	}
	if !seen["issuance.intent"] || !seen["cert.issue"] {
		t.Errorf("records for %s: %v; want issuance.intent and cert.issue", obj, seen)
	}
}
