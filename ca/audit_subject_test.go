package ca_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// The audit log names a certificate's subject as the certificates table
// does: readable RFC 4514 in UTF-8, not pkix.Name.String's hex for the
// attributes it does not know (2.5.4.4=#0c0e… for a Cyrillic surname).
func TestAuditRecordsShowReadableSubjects(t *testing.T) {
	ctx := context.Background()
	c := newCenter(t, "sqlite")
	iss := c.issuer(t, "qca-demo", c.keys, nil)
	cert, err := iss.IssueRequest(ctx, personRequest(t, "r-readable"))
	if err != nil {
		t.Fatal(err)
	}
	stored, err := c.st.GetCertificate(ctx, "qca-demo", cert.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := c.st.AuditRecords(ctx, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Action != "issuance.intent" && r.Action != "cert.issue" {
			continue
		}
		var d struct{ Request, Subject string }
		if err := json.Unmarshal(r.Details, &d); err != nil {
			t.Fatal(err)
		}
		if d.Request != "r-readable" {
			continue
		}
		seen[r.Action] = true
		if d.Subject != stored.Subject || strings.Contains(d.Subject, "#") || !strings.Contains(d.Subject, "SN=Раҳимов") {
			t.Errorf("%s record: subject %q; want the stored %q", r.Action, d.Subject, stored.Subject)
		}
	}
	if !seen["issuance.intent"] || !seen["cert.issue"] {
		t.Fatalf("records found: %v", seen)
	}
}
