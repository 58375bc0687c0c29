package policy

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/muhr-pki/muhr/policy/ids"
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
	if err := ids.CheckCA(caID); err != nil {
		return Links{}, err
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
