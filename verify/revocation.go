package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"
)

var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// revStatus is what one source said of one certificate.
type revStatus struct {
	answer RevocationAnswer
	ok     bool // a trustworthy good/revoked answer (unknown is not)
}

// cache keeps revocation answers until their nextUpdate. It belongs to a
// Validator, so its lifetime is the caller's.
type cache struct {
	mu   sync.Mutex
	ocsp map[string]RevocationAnswer // issuer key hash + serial
	crl  map[string]*x509.RevocationList
	// keep bounds the entries, so a stream of distinct certificates
	// cannot grow the cache without end.
	keep int
}

func newCache() *cache {
	return &cache{ocsp: map[string]RevocationAnswer{}, crl: map[string]*x509.RevocationList{}, keep: 10000}
}

func ocspKey(cert, issuer *x509.Certificate) string {
	h := sha256.Sum256(issuer.RawSubjectPublicKeyInfo)
	return string(h[:]) + cert.SerialNumber.String()
}

func (c *cache) getOCSP(k string, now time.Time) (RevocationAnswer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.ocsp[k]
	if ok && !now.Before(a.NextUpdate) {
		delete(c.ocsp, k)
		return a, false
	}
	return a, ok
}

func (c *cache) putOCSP(k string, a RevocationAnswer) {
	if a.NextUpdate.IsZero() {
		return // no nextUpdate: newer information is always available
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ocsp) >= c.keep {
		clear(c.ocsp)
	}
	c.ocsp[k] = a
}

func (c *cache) getCRL(u string, now time.Time) *x509.RevocationList {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.crl[u]
	if l != nil && !now.Before(l.NextUpdate) {
		delete(c.crl, u)
		return nil
	}
	return l
}

func (c *cache) putCRL(u string, l *x509.RevocationList) {
	if l.NextUpdate.IsZero() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.crl) >= 64 {
		clear(c.crl)
	}
	c.crl[u] = l
}

// revocation asks OCSP (each AIA URL) and then the CRLs (each CDP) about
// cert, and returns every answer tried; the last is the one used when ok.
func (v *Validator) revocation(ctx context.Context, cert, issuer *x509.Certificate) (answers []RevocationAnswer, used *RevocationAnswer) {
	now := v.clock()
	// A certificate names a handful of locations; a hostile one naming
	// thousands must not buy thousands of timeouts.
	for _, u := range firstN(cert.OCSPServer, maxLocations) {
		a, ok := v.askOCSP(ctx, cert, issuer, u, now)
		answers = append(answers, a)
		if ok {
			return answers, &answers[len(answers)-1]
		}
	}
	for _, u := range firstN(cert.CRLDistributionPoints, maxLocations) {
		a, ok := v.askCRL(ctx, cert, issuer, u, now)
		answers = append(answers, a)
		if ok {
			return answers, &answers[len(answers)-1]
		}
	}
	return answers, nil
}

func (v *Validator) askOCSP(ctx context.Context, cert, issuer *x509.Certificate, u string, now time.Time) (RevocationAnswer, bool) {
	a := RevocationAnswer{Certificate: cert.SerialNumber.Text(16), Source: "OCSP", URL: u}
	k := ocspKey(cert, issuer)
	if c, ok := v.cache.getOCSP(k, now); ok {
		c.Cached = true
		return c, true
	}
	// SHA-1 CertID: what every responder answers (RFC 5019 §2.1.1).
	req, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: crypto.SHA1})
	if err != nil {
		a.Error = err.Error()
		return a, false
	}
	der, err := v.fetch.get(ctx, u, req, "application/ocsp-request", v.opts.MaxOCSPBytes)
	if err != nil {
		a.Error = err.Error()
		return a, false
	}
	a.DER = der
	resp, err := ocsp.ParseResponseForCert(der, cert, issuer)
	if err != nil {
		a.Error = "response refused: " + err.Error()
		return a, false
	}
	a.ThisUpdate, a.NextUpdate, a.ProducedAt = resp.ThisUpdate.UTC(), resp.NextUpdate.UTC(), resp.ProducedAt.UTC()
	if resp.Certificate != nil {
		// A delegated responder's certificate must be valid now; its
		// signature by the issuer and its EKU ParseResponseForCert checked.
		if now.Before(resp.Certificate.NotBefore) || now.After(resp.Certificate.NotAfter) {
			a.Error = "responder certificate not valid now"
			return a, false
		}
	}
	if resp.ThisUpdate.After(now.Add(5 * time.Minute)) {
		a.Error = "thisUpdate in the future"
		return a, false
	}
	if !resp.NextUpdate.IsZero() && now.After(resp.NextUpdate) {
		a.Error = "answer past its nextUpdate"
		return a, false
	}
	switch resp.Status {
	case ocsp.Good:
		a.Status = "good"
	case ocsp.Revoked:
		a.Status = "revoked"
		t := resp.RevokedAt.UTC()
		a.RevokedAt, a.Reason = &t, resp.RevocationReason
	default:
		a.Status = "unknown"
		return a, false
	}
	v.cache.putOCSP(k, a)
	return a, true
}

func (v *Validator) askCRL(ctx context.Context, cert, issuer *x509.Certificate, u string, now time.Time) (RevocationAnswer, bool) {
	a := RevocationAnswer{Certificate: cert.SerialNumber.Text(16), Source: "CRL", URL: u}
	l := v.cache.getCRL(u, now)
	if l != nil {
		a.Cached = true
	} else {
		der, err := v.fetch.get(ctx, u, nil, "", v.opts.MaxCRLBytes)
		if err != nil {
			a.Error = err.Error()
			return a, false
		}
		if l, err = x509.ParseRevocationList(der); err != nil {
			a.Error = "not a CRL: " + err.Error()
			return a, false
		}
		if !bytes.Equal(l.RawIssuer, issuer.RawSubject) {
			a.Error = "CRL of another issuer"
			return a, false
		}
		if err := l.CheckSignatureFrom(issuer); err != nil {
			a.Error = "CRL signature: " + err.Error()
			return a, false
		}
		if !l.NextUpdate.IsZero() && now.After(l.NextUpdate) {
			a.Error = fmt.Sprintf("CRL past its nextUpdate %s", l.NextUpdate.UTC().Format(time.RFC3339))
			return a, false
		}
		v.cache.putCRL(u, l)
	}
	a.DER = l.Raw
	a.ThisUpdate, a.NextUpdate = l.ThisUpdate.UTC(), l.NextUpdate.UTC()
	a.Status = "good"
	for _, e := range l.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			t := e.RevocationTime.UTC()
			a.Status, a.RevokedAt, a.Reason = "revoked", &t, e.ReasonCode
		}
	}
	return a, true
}

// maxLocations is how many OCSP URLs, and how many CRL distribution
// points, of one certificate are tried.
const maxLocations = 3

func firstN(s []string, n int) []string { return s[:min(len(s), n)] }

func hasExtension(c *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oid) {
			return true
		}
	}
	return false
}
