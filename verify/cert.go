package verify

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/muhr-pki/muhr/internal/cms"
	"github.com/muhr-pki/muhr/policy"
)

// Options configure a Validator.
type Options struct {
	// Roots are the trust anchors: the center's roots, and any other the
	// operator trusts.
	Roots []*x509.Certificate
	// HTTP reaches OCSP responders, CRLs and AIA caIssuers; nil is a
	// plain client. Its CheckRedirect is replaced by the redirect limit.
	HTTP  *http.Client
	Clock func() time.Time
	// Timeout bounds each fetch; MaxRedirects each fetch's redirects.
	Timeout       time.Duration
	MaxRedirects  int
	MaxOCSPBytes  int64
	MaxCRLBytes   int64
	MaxCertBytes  int64
	MaxAIAFetches int
}

// Validator validates certificates and signatures. It is safe for
// concurrent use; its revocation cache lives as long as it does.
type Validator struct {
	opts  Options
	roots *x509.CertPool
	clock func() time.Time
	fetch *fetcher
	cache *cache
}

// New makes a Validator; zero limits take the defaults.
func New(o Options) (*Validator, error) {
	if len(o.Roots) == 0 {
		return nil, errors.New("verify: no trust anchor configured")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxRedirects <= 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	if o.MaxOCSPBytes <= 0 {
		o.MaxOCSPBytes = DefaultMaxOCSPBytes
	}
	if o.MaxCRLBytes <= 0 {
		o.MaxCRLBytes = DefaultMaxCRLBytes
	}
	if o.MaxCertBytes <= 0 {
		o.MaxCertBytes = DefaultMaxCertBytes
	}
	if o.MaxAIAFetches <= 0 {
		o.MaxAIAFetches = 3
	}
	pool := x509.NewCertPool()
	for _, r := range o.Roots {
		pool.AddCert(r)
	}
	return &Validator{opts: o, roots: pool, clock: o.Clock, fetch: newFetcher(o.HTTP, o.Timeout, o.MaxRedirects), cache: newCache()}, nil
}

// Usage is what a certificate is validated for.
type Usage int

// The usages.
const (
	UsageAny Usage = iota
	// UsageSigning wants nonRepudiation or digitalSignature.
	UsageSigning
	// UsageTimestamping wants the id-kp-timeStamping EKU.
	UsageTimestamping
)

// Certificate validates leaf at time at, with extra as candidate
// intermediates. poe says at comes from a proof of existence (a verified
// timestamp): revocation after it leaves the certificate valid, and
// revocation before it is TOTAL-FAILED/REVOKED rather than
// INDETERMINATE/REVOKED_NO_POE.
func (v *Validator) Certificate(ctx context.Context, leaf *x509.Certificate, extra []*x509.Certificate, at time.Time, poe bool, use Usage) *CertReport {
	r := &CertReport{Status: pass(), Subject: leaf.Subject.String(), At: at.UTC(), POE: poe}
	chain, st := v.buildChain(ctx, r, leaf, extra, at)
	if st.Indication != Passed {
		r.Status = st
		r.Qualification = qualification(leaf)
		return r
	}
	for i, c := range chain {
		cc := describe(c)
		cc.Anchor = i == len(chain)-1
		r.Chain = append(r.Chain, cc)
	}
	r.Status = worse(r.Status, v.checkUsage(r, leaf, use))
	r.Status = worse(r.Status, v.checkRevocation(ctx, r, chain, at, poe))
	r.Qualification = qualification(leaf)
	return r
}

// buildChain finds a path to a trust anchor valid at at, fetching AIA
// caIssuers when the intermediates are missing.
func (v *Validator) buildChain(ctx context.Context, r *CertReport, leaf *x509.Certificate, extra []*x509.Certificate, at time.Time) ([]*x509.Certificate, Status) {
	inter := x509.NewCertPool()
	for _, c := range extra {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: v.roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	fetched := 0
	tried := map[string]bool{}
	for {
		chains, err := leaf.Verify(opts)
		if err == nil {
			r.check("chain", true, fmt.Sprintf("%d certificates to the trust anchor %q", len(chains[0]), chains[0][len(chains[0])-1].Subject))
			r.check("validity", true, "every certificate of the chain is valid at "+at.UTC().Format(time.RFC3339))
			r.check("signatures", true, "each certificate's signature verifies with its issuer's key")
			return chains[0], pass()
		}
		var unknown x509.UnknownAuthorityError
		var invalid x509.CertificateInvalidError
		switch {
		case errors.As(err, &unknown):
			// Try the AIA caIssuers of the certificates we have.
			if fetched < v.opts.MaxAIAFetches {
				if c, a := v.fetchIssuer(ctx, leaf, extra, tried); c != nil || a != "" {
					fetched++
					if c != nil {
						r.check("aia", true, "fetched the issuer "+c.Subject.String())
						extra = append(extra, c)
						inter.AddCert(c)
						continue
					}
					r.check("aia", false, a)
					continue
				}
			}
			r.check("chain", false, "no path to a trust anchor: "+err.Error())
			return nil, Status{Indication: Indeterminate, SubIndication: NoCertificateChainFound,
				Reason: "no chain to a trusted root was found for " + leaf.Subject.String()}
		case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
			// Build the chain at a time the certificates were valid, so
			// the report shows it, then say what is wrong with the time.
			o2 := opts
			o2.CurrentTime = leaf.NotBefore.Add(time.Second)
			if chains, err2 := leaf.Verify(o2); err2 == nil {
				for i, c := range chains[0] {
					cc := describe(c)
					cc.Anchor = i == len(chains[0])-1
					r.Chain = append(r.Chain, cc)
				}
				r.check("chain", true, fmt.Sprintf("%d certificates to the trust anchor", len(chains[0])))
			}
			bad := invalid.Cert
			if bad == nil {
				bad = leaf
			}
			if at.Before(bad.NotBefore) {
				r.check("validity", false, fmt.Sprintf("%s is not valid before %s", bad.Subject, bad.NotBefore.UTC().Format(time.RFC3339)))
				return nil, Status{Indication: Failed, SubIndication: NotYetValid,
					Reason: fmt.Sprintf("certificate %q not yet valid at %s", bad.Subject, at.UTC().Format(time.RFC3339))}
			}
			r.check("validity", false, fmt.Sprintf("%s expired %s", bad.Subject, bad.NotAfter.UTC().Format(time.RFC3339)))
			return nil, Status{Indication: Indeterminate, SubIndication: OutOfBoundsNoPOE,
				Reason: fmt.Sprintf("certificate %q expired at %s, before the validation time %s and no proof of existence is earlier",
					bad.Subject, bad.NotAfter.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))}
		default:
			r.check("chain", false, err.Error())
			return nil, Status{Indication: Indeterminate, SubIndication: ChainConstraintsFailure, Reason: err.Error()}
		}
	}
}

// fetchIssuer fetches one untried caIssuers URL of the certificates in
// hand; it returns the certificate, or a sentence saying why not, or
// neither when there is nothing left to try.
func (v *Validator) fetchIssuer(ctx context.Context, leaf *x509.Certificate, extra []*x509.Certificate, tried map[string]bool) (*x509.Certificate, string) {
	for _, c := range append([]*x509.Certificate{leaf}, extra...) {
		for _, u := range firstN(c.IssuingCertificateURL, maxLocations) {
			if tried[u] {
				continue
			}
			tried[u] = true
			b, err := v.fetch.get(ctx, u, nil, "", v.opts.MaxCertBytes)
			if err != nil {
				return nil, fmt.Sprintf("caIssuers %s: %v", u, err)
			}
			certs, err := ParseCertificates(b)
			if err != nil || len(certs) == 0 {
				return nil, fmt.Sprintf("caIssuers %s: no certificate in the answer", u)
			}
			return certs[0], ""
		}
	}
	return nil, ""
}

func (v *Validator) checkUsage(r *CertReport, leaf *x509.Certificate, use Usage) Status {
	switch use {
	case UsageSigning:
		if leaf.KeyUsage != 0 && leaf.KeyUsage&(x509.KeyUsageContentCommitment|x509.KeyUsageDigitalSignature) == 0 {
			r.check("keyUsage", false, "neither nonRepudiation nor digitalSignature")
			return Status{Indication: Indeterminate, SubIndication: ChainConstraintsFailure, Reason: "the certificate's key usage does not allow signing"}
		}
		r.check("keyUsage", true, keyUsageText(leaf.KeyUsage))
	case UsageTimestamping:
		if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}) {
			r.check("extKeyUsage", false, "id-kp-timeStamping is not the only extended key usage")
			return Status{Indication: Indeterminate, SubIndication: ChainConstraintsFailure, Reason: "the certificate is not a time-stamping unit's"}
		}
		r.check("extKeyUsage", true, "id-kp-timeStamping")
	}
	var ps []string
	for _, p := range leaf.Policies {
		ps = append(ps, p.String())
	}
	r.check("policies", true, strings.Join(ps, ", "))
	return pass()
}

func keyUsageText(k x509.KeyUsage) string {
	var out []string
	for bit, name := range map[x509.KeyUsage]string{x509.KeyUsageDigitalSignature: "digitalSignature",
		x509.KeyUsageContentCommitment: "nonRepudiation", x509.KeyUsageKeyEncipherment: "keyEncipherment",
		x509.KeyUsageCertSign: "keyCertSign", x509.KeyUsageCRLSign: "cRLSign"} {
		if k&bit != 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	if len(out) == 0 {
		return "no keyUsage extension"
	}
	return strings.Join(out, ", ")
}

// checkRevocation asks about every certificate of the chain below the
// anchor (responder certificates with ocsp-nocheck excepted).
func (v *Validator) checkRevocation(ctx context.Context, r *CertReport, chain []*x509.Certificate, at time.Time, poe bool) Status {
	st := pass()
	for i := 0; i+1 < len(chain); i++ {
		c, issuer := chain[i], chain[i+1]
		if hasExtension(c, oidOCSPNoCheck) {
			r.check("revocation", true, c.Subject.String()+" carries id-pkix-ocsp-nocheck")
			continue
		}
		answers, used := v.revocation(ctx, c, issuer)
		r.Revocation = append(r.Revocation, answers...)
		if used == nil {
			why := "no OCSP or CRL location in the certificate"
			if len(answers) > 0 {
				var errs []string
				for _, a := range answers {
					errs = append(errs, a.Source+" "+a.URL+": "+orStatus(a))
				}
				why = strings.Join(errs, "; ")
			}
			r.check("revocation", false, c.Subject.String()+": "+why)
			st = worse(st, Status{Indication: Indeterminate, SubIndication: TryLater,
				Reason: "no revocation source answered for " + c.Subject.String() + ": " + why})
			continue
		}
		if used.Status != "revoked" {
			r.check("revocation", true, fmt.Sprintf("%s: good (%s %s)", c.Subject, used.Source, used.URL))
			continue
		}
		if at.Before(*used.RevokedAt) {
			r.check("revocation", true, fmt.Sprintf("%s: revoked at %s, after the validation time", c.Subject, used.RevokedAt.Format(time.RFC3339)))
			continue
		}
		r.check("revocation", false, fmt.Sprintf("%s: revoked at %s (reason %d)", c.Subject, used.RevokedAt.Format(time.RFC3339), used.Reason))
		if poe {
			st = worse(st, Status{Indication: Failed, SubIndication: Revoked,
				Reason: fmt.Sprintf("%s was revoked at %s, before the proof of existence %s", c.Subject, used.RevokedAt.Format(time.RFC3339), at.UTC().Format(time.RFC3339))})
		} else {
			st = worse(st, Status{Indication: Indeterminate, SubIndication: RevokedNoPOE,
				Reason: fmt.Sprintf("%s was revoked at %s and no proof of existence shows the signature was made before", c.Subject, used.RevokedAt.Format(time.RFC3339))})
		}
	}
	return st
}

func orStatus(a RevocationAnswer) string {
	if a.Error != "" {
		return a.Error
	}
	return a.Status
}

// qualification reads QCStatements and the policy OIDs.
func qualification(c *x509.Certificate) *Qualification {
	q := &Qualification{}
	qcp := map[string]bool{}
	for _, p := range policy.QCPPolicies() {
		qcp[p.String()] = true
	}
	hasQCP, qscdPolicy := false, false
	for _, p := range c.Policies {
		s := p.String()
		q.Policies = append(q.Policies, s)
		if qcp[s] {
			hasQCP = true
			qscdPolicy = qscdPolicy || s == "0.4.0.194112.1.2" || s == "0.4.0.194112.1.3"
		}
	}
	for _, e := range c.Extensions {
		if e.Id.Equal(oidQCStatements) {
			qs, err := policy.ParseQCStatements(e.Value)
			if err != nil {
				q.Note = "QCStatements do not parse: " + err.Error()
				return q
			}
			q.Qualified = qs.Compliance && hasQCP
			q.QSCD = q.Qualified && qs.SSCD && qscdPolicy
			q.Type, q.Legislation = string(qs.Type), qs.Legislation
			switch {
			case qs.Compliance && !hasQCP:
				q.Note = "QcCompliance without a QCP policy: not qualified"
			case !qs.Compliance && hasQCP:
				q.Note = "QCP policy without QcCompliance: not qualified"
			}
			return q
		}
	}
	if hasQCP {
		q.Note = "QCP policy without QCStatements: not qualified"
	}
	return q
}

var oidQCStatements = []int{1, 3, 6, 1, 5, 5, 7, 1, 3}

// ParseCertificates reads DER, PEM (any number of CERTIFICATE blocks) or a
// certs-only CMS (.p7c, as AIA caIssuers often serve).
func ParseCertificates(b []byte) ([]*x509.Certificate, error) {
	if c, err := x509.ParseCertificate(b); err == nil {
		return []*x509.Certificate{c}, nil
	}
	var out []*x509.Certificate
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("verify: PEM certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) > 0 {
		return out, nil
	}
	if sd, err := cms.ParseCertsOnly(b); err == nil {
		for _, d := range sd {
			if c, err := x509.ParseCertificate(d); err == nil {
				out = append(out, c)
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, errors.New("verify: no certificate (DER, PEM or PKCS#7) found")
}
