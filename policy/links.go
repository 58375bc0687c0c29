package policy

import (
	"fmt"
	"net/url"
	"strings"
)

// Links are the repository URLs of one CA, written into the certificates
// it issues (AIA caIssuers and ocsp, CRL distribution point).
type Links struct {
	CertURL string // the CA's certificate, DER: <public_url>/ca/<id>.crt
	CRLURL  string // the CA's CRL, DER: <public_url>/crl/<id>.crl
	OCSPURL string // the responder: <public_url>/ocsp
}

// CALinks returns the Links of CA caID under the center's public base URL
// (config public_url). Plain http is allowed and usual: relying parties
// fetch AIA and CRLs without TLS to avoid a validation loop.
func CALinks(publicURL, caID string) (Links, error) {
	base, err := checkBaseURL(publicURL)
	if err != nil {
		return Links{}, err
	}
	if !validCAID(caID) {
		return Links{}, fmt.Errorf("CA id %q: use letters, digits, '-', '_' or '.', not starting with '.'", caID)
	}
	return Links{
		CertURL: base + "/ca/" + caID + ".crt",
		CRLURL:  base + "/crl/" + caID + ".crl",
		OCSPURL: base + "/ocsp",
	}, nil
}

// checkBaseURL refuses anything that is not a plain http(s) base URL and
// returns it without a trailing slash.
func checkBaseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("public URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("public URL %q: scheme must be http or https", s)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("public URL %q: want scheme://host[:port][/path], nothing else", s)
	}
	// URLs go into IA5String fields.
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] <= ' ' {
			return "", fmt.Errorf("public URL %q: only printable ASCII is allowed", s)
		}
	}
	return strings.TrimRight(s, "/"), nil
}

func validCAID(id string) bool {
	if id == "" || id[0] == '.' || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// check says whether the links needed by a template are present.
func (l Links) check(needOCSP bool) error {
	if l.CertURL == "" || l.CRLURL == "" {
		return fmt.Errorf("issuer links: certificate and CRL URLs are required (use CALinks)")
	}
	if needOCSP && l.OCSPURL == "" {
		return fmt.Errorf("issuer links: OCSP URL is required (use CALinks)")
	}
	return nil
}
