package verify

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText writes r for people: the verdict first, then each signer, its
// checks, chain and revocation answers.
func WriteText(w io.Writer, r *Report) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "%s\n", verdict(r.Status))
	fmt.Fprintf(b, "validated at %s\n", r.ValidationTime.Format(time.RFC3339))
	if r.DocumentSHA256 != "" {
		fmt.Fprintf(b, "document SHA-256 %s\n", r.DocumentSHA256)
	}
	for _, s := range r.Signatures {
		fmt.Fprintf(b, "\nsignature %s: %s\n", s.ID, verdict(s.Status))
		if s.Signer != "" {
			fmt.Fprintf(b, "  signer: %s\n", s.Signer)
		}
		if s.SigningTime != nil {
			fmt.Fprintf(b, "  claimed signing time: %s\n", s.SigningTime.Format(time.RFC3339))
		}
		checks(b, "  ", s.Checks)
		if ts := s.Timestamp; ts != nil {
			fmt.Fprintf(b, "  signature timestamp: %s\n", verdict(ts.Status))
			if !ts.GenTime.IsZero() {
				fmt.Fprintf(b, "    genTime %s, policy %s, serial %s\n", ts.GenTime.Format(time.RFC3339Nano), ts.Policy, ts.Serial)
			}
			checks(b, "    ", ts.Checks)
			if ts.Certificate != nil {
				fmt.Fprintf(b, "    TSA certificate: %s\n", verdict(ts.Certificate.Status))
			}
		}
		if s.Certificate != nil {
			certText(b, "  ", s.Certificate)
		}
	}
	if r.Certificate != nil {
		certText(b, "", r.Certificate)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func verdict(s Status) string {
	out := string(s.Indication)
	if s.SubIndication != "" {
		out += "/" + string(s.SubIndication)
	}
	if s.Reason != "" {
		out += ": " + s.Reason
	}
	return out
}

func checks(b *strings.Builder, indent string, cs []Check) {
	for _, c := range cs {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(b, "%s[%s] %s", indent, mark, c.Name)
		if c.Detail != "" {
			fmt.Fprintf(b, ": %s", c.Detail)
		}
		b.WriteByte('\n')
	}
}

func certText(b *strings.Builder, indent string, c *CertReport) {
	poe := ""
	if c.POE {
		poe = " (time of the signature timestamp)"
	}
	fmt.Fprintf(b, "%scertificate %s: %s\n%s  validated at %s%s\n", indent, c.Subject, verdict(c.Status), indent, c.At.Format(time.RFC3339), poe)
	checks(b, indent+"  ", c.Checks)
	if len(c.Chain) > 0 {
		fmt.Fprintf(b, "%s  chain:\n", indent)
		for i, cc := range c.Chain {
			anchor := ""
			if cc.Anchor {
				anchor = " [trust anchor]"
			}
			fmt.Fprintf(b, "%s    %d. %s (serial %s, %s to %s)%s\n", indent, i, cc.Subject, cc.Serial,
				cc.NotBefore.Format("2006-01-02"), cc.NotAfter.Format("2006-01-02"), anchor)
		}
	}
	for _, a := range c.Revocation {
		st := a.Status
		if a.Error != "" {
			st = "no answer: " + a.Error
		}
		if a.RevokedAt != nil {
			st += " at " + a.RevokedAt.Format(time.RFC3339)
		}
		cached := ""
		if a.Cached {
			cached = " (cached)"
		}
		fmt.Fprintf(b, "%s  revocation of %s by %s %s: %s%s\n", indent, a.Certificate, a.Source, a.URL, st, cached)
	}
	if q := c.Qualification; q != nil {
		fmt.Fprintf(b, "%s  qualified: %v, key on a qualified device (QSCD): %v", indent, q.Qualified, q.QSCD)
		if q.Type != "" {
			fmt.Fprintf(b, ", type %s", q.Type)
		}
		if q.Note != "" {
			fmt.Fprintf(b, " (%s)", q.Note)
		}
		b.WriteByte('\n')
	}
}
