package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
)

// CRL validity bounds. Every CA's nextUpdate is at most 7 days after
// thisUpdate (STANDARDS.md); the offline root, whose CRL is signed rarely,
// may be given up to MaxRootCRLValidity.
const (
	DefaultCRLValidity = policy.MaxCRLValidity
	MaxRootCRLValidity = 365 * 24 * time.Hour
	// crlPage is how many revoked certificates one query reads.
	crlPage = 2000
	// crlLintSample is how many entries the pre-signing lint sees: the
	// header and extensions are the whole CRL's, the entries its first
	// ones (every entry is checked by the writer itself), so linting a CRL
	// of 100,000 entries does not parse 100,000 entries twice.
	crlLintSample = 200
	// crlNumberTries bounds the retries when another producer took the
	// number first. Each refusal means another CRL was stored, so with up
	// to crlNumberTries producers at once (one under the lease, plus
	// `muhr crl generate` runs) every one gets a number.
	crlNumberTries = 10
)

// ErrCRL marks a CRL that could not be made from what the store holds.
var ErrCRL = errors.New("ca: CRL")

// CRLStore is what CRL generation needs from the store.
type CRLStore interface {
	GetCA(ctx context.Context, id string) (store.CA, error)
	NextCRLNumber(ctx context.Context, issuerID string) (*big.Int, error)
	ReadSnapshot(ctx context.Context, fn func(ctx context.Context, r store.Reader) error) error
	txRunner
}

// CRLTx is the transaction that records a CRL.
type CRLTx interface {
	InsertCRL(ctx context.Context, c store.CRL) error
	audit.Chain
}

// CRLGenerator makes and stores the full CRL of a CA.
type CRLGenerator struct {
	Store CRLStore
	Keys  keySource
	// Linter lints each CRL before the HSM signs it; nil is a fresh one.
	Linter *policy.Linter
	// Validity is nextUpdate - thisUpdate (0: DefaultCRLValidity, at most
	// 7 days); RootValidity the root's (0: Validity, at most
	// MaxRootCRLValidity).
	Validity     time.Duration
	RootValidity time.Duration
	Actor        string // in the audit log; "" is "muhrd"
	Now          func() time.Time
	Rand         io.Reader
}

// CRLResult is a stored CRL and what it lists.
type CRLResult struct {
	store.CRL
	Entries int
}

func (g *CRLGenerator) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *CRLGenerator) rand() io.Reader {
	if g.Rand != nil {
		return g.Rand
	}
	return rand.Reader
}

// validity is the CA kind's nextUpdate - thisUpdate, checked against the bounds.
func (g *CRLGenerator) validity(kind string) (time.Duration, error) {
	v := g.Validity
	if v == 0 {
		v = DefaultCRLValidity
	}
	if v < 0 || v > policy.MaxCRLValidity {
		return 0, fmt.Errorf("%w: validity %v must be more than 0 and at most %v", ErrCRL, v, policy.MaxCRLValidity)
	}
	if kind != store.CAKindRoot {
		return v, nil
	}
	if g.RootValidity != 0 {
		v = g.RootValidity
	}
	if v < 0 || v > MaxRootCRLValidity {
		return 0, fmt.Errorf("%w: root validity %v must be more than 0 and at most %v", ErrCRL, v, MaxRootCRLValidity)
	}
	return v, nil
}

// Generate makes the CA's next full CRL, streaming its revoked and held
// certificates from one snapshot of the store, has the CA key sign it after
// the lint passes, checks the signature and stores it with its audit
// record. Its cRLNumber is the store's next; when another producer stored
// that number first, the same entries are signed again with a fresh one.
func (g *CRLGenerator) Generate(ctx context.Context, caID string) (CRLResult, error) {
	row, err := g.Store.GetCA(ctx, caID)
	if err != nil {
		return CRLResult{}, fmt.Errorf("%w of %s: %w", ErrCRL, caID, err)
	}
	cert, err := x509.ParseCertificate(row.CertDER)
	if err != nil {
		return CRLResult{}, fmt.Errorf("%w of %s: stored CA certificate: %w", ErrCRL, caID, err)
	}
	validity, err := g.validity(row.Kind)
	if err != nil {
		return CRLResult{}, err
	}
	signer, err := g.Keys.Signer(ctx, row.KeyLabel)
	if err != nil {
		return CRLResult{}, fmt.Errorf("%w of %s: key %s: %w", ErrCRL, caID, row.KeyLabel, err)
	}
	if k, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(cert.PublicKey) {
		return CRLResult{}, fmt.Errorf("%w of %s: key %s is not the CA certificate's key", ErrCRL, caID, row.KeyLabel)
	}
	alg, err := sigAlgFor(cert.PublicKey)
	if err != nil {
		return CRLResult{}, err
	}
	this := g.now().UTC().Truncate(time.Second)
	next := this.Add(validity)
	// The qualified CA keeps revoked certificates on its CRL after they
	// expire, for long-term validation, and says so from its own start;
	// other CAs drop entries of expired certificates (RFC 5280 §3.3).
	var expiredSince *time.Time
	if policy.IssuerKind(row.Kind, cert) == policy.CAKindIssuing {
		t := cert.NotBefore
		expiredSince = &t
	}
	entries, sample, n, err := g.entries(ctx, caID, this, expiredSince != nil)
	if err != nil {
		return CRLResult{}, err
	}
	for try := 1; ; try++ {
		res, err := g.signAndStore(ctx, row, cert, signer, alg, this, next, entries, sample, n, expiredSince)
		if errors.Is(err, store.ErrExists) && try < crlNumberTries {
			continue
		}
		return res, err
	}
}

// entries reads the CA's revoked and held certificates a page at a time
// and encodes each; sample is the encoding of the first crlLintSample.
func (g *CRLGenerator) entries(ctx context.Context, caID string, this time.Time, keepExpired bool) (all []byte, sample []byte, n int, err error) {
	err = g.Store.ReadSnapshot(ctx, func(ctx context.Context, r store.Reader) error {
		var after *big.Int
		for {
			page, err := r.RevokedAfter(ctx, caID, after, crlPage)
			if err != nil {
				return err
			}
			for _, e := range page {
				if !keepExpired && e.NotAfter.Before(this) {
					continue
				}
				in := entryInput{serial: e.Serial, revokedAt: e.RevokedAt, invalidityDate: e.InvalidityDate}
				switch {
				case e.Status == store.CertStatusOnHold:
					in.reason = reasonCertificateHold
				case e.Reason != nil:
					in.reason = *e.Reason
				}
				if all, err = appendEntry(all, in, this); err != nil {
					return err
				}
				if n++; n == crlLintSample {
					sample = all
				}
			}
			if len(page) < crlPage {
				return nil
			}
			after = page[len(page)-1].Serial
		}
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%w of %s: entries: %w", ErrCRL, caID, err)
	}
	if n < crlLintSample {
		sample = all
	}
	return all, sample[:len(sample):len(sample)], n, nil
}

func (g *CRLGenerator) signAndStore(ctx context.Context, row store.CA, cert *x509.Certificate, signer crypto.Signer, alg crlSigAlg,
	this, next time.Time, entries, sample []byte, n int, expiredSince *time.Time) (CRLResult, error) {
	number, err := g.Store.NextCRLNumber(ctx, row.ID)
	if err != nil {
		return CRLResult{}, fmt.Errorf("%w of %s: number: %w", ErrCRL, row.ID, err)
	}
	exts, err := crlExtensions(number, cert.SubjectKeyId, expiredSince)
	if err != nil {
		return CRLResult{}, fmt.Errorf("%w of %s: %w", ErrCRL, row.ID, err)
	}
	if err := g.lint(cert, row.Kind == store.CAKindRoot, alg, this, next, sample, exts); err != nil {
		return CRLResult{}, fmt.Errorf("%w of %s: %w", ErrCRL, row.ID, err)
	}
	tbs, err := buildTBS(alg, cert.RawSubject, this, next, entries, exts)
	if err != nil {
		return CRLResult{}, err
	}
	h := alg.hash.New()
	tbs.each(func(b []byte) { h.Write(b) })
	digest := h.Sum(nil)
	sig, err := signer.Sign(g.rand(), digest, alg.hash)
	if err != nil {
		return CRLResult{}, fmt.Errorf("%w of %s: sign: %w", ErrCRL, row.ID, err)
	}
	// A faulty token must not publish a CRL that does not verify.
	if err := verifyDigest(cert.PublicKey, alg.hash, digest, sig); err != nil {
		return CRLResult{}, fmt.Errorf("%w of %s: HSM signature does not verify: %w", ErrCRL, row.ID, err)
	}
	der := assembleCRL(tbs, alg, sig)
	crl := store.CRL{IssuerID: row.ID, Number: number, ThisUpdate: this, NextUpdate: next, DER: der}
	actor := g.Actor
	if actor == "" {
		actor = "muhrd"
	}
	err = g.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var t CRLTx = tx
		if err := t.InsertCRL(ctx, crl); err != nil {
			return err
		}
		_, err := audit.Append(ctx, t, g.now(), audit.Entry{Actor: actor, Action: "crl.issue",
			Object: fmt.Sprintf("crl/%s/%s", row.ID, number.String()),
			Details: map[string]any{"number": number.String(), "entries": n, "this_update": this.Format(time.RFC3339),
				"next_update": next.Format(time.RFC3339), "sha256": Fingerprint(der), "bytes": len(der)}})
		return err
	})
	if err != nil {
		return CRLResult{}, fmt.Errorf("%w of %s #%s: store: %w", ErrCRL, row.ID, number, err)
	}
	return CRLResult{CRL: crl, Entries: n}, nil
}

// lint signs the CRL's header, extensions and first entries with a
// throwaway key of the CA key's type and runs zlint's CRL lints on it;
// any error or unaccepted warning stops the CRL before the HSM signs.
func (g *CRLGenerator) lint(cert *x509.Certificate, root bool, alg crlSigAlg, this, next time.Time, sample, exts []byte) error {
	key, err := throwawayLike(cert.PublicKey)
	if err != nil {
		return err
	}
	tbs, err := buildTBS(alg, cert.RawSubject, this, next, sample, exts)
	if err != nil {
		return err
	}
	h := alg.hash.New()
	tbs.each(func(b []byte) { h.Write(b) })
	sig, err := key.Sign(rand.Reader, h.Sum(nil), alg.hash)
	if err != nil {
		return fmt.Errorf("lint: throwaway signature: %w", err)
	}
	return LintCRL(g.Linter, assembleCRL(tbs, alg, sig), root)
}

// LintCRL runs zlint's CRL lints on a CRL in DER (l nil: a fresh linter)
// with the findings the center accepts: expiredCertsOnCRL on the qualified
// CA's CRL and, on the root's (root: it lists CA certificates only), the
// CA/B rule for subscriber CRLs (10 days), since the root's validity is
// bounded by MaxRootCRLValidity, within the BR's 12 months for CA CRLs.
func LintCRL(l *policy.Linter, der []byte, root bool) error {
	if l == nil {
		l = policy.NewLinter()
	}
	res, err := l.LintCRL(der)
	if err != nil {
		return fmt.Errorf("lint: %w", err)
	}
	for i, f := range res.Findings {
		if f.Accepted == "" && f.Lint == "e_crl_extensions_validity" && f.Status == "warn" &&
			f.Details == "CRL Extension "+oidExtExpiredCertsOnCRL.String()+" is NOT RECOMMENDED" {
			res.Findings[i].Accepted = acceptExpiredCertsOnCRL
		}
		if root && f.Accepted == "" && f.Lint == "e_crl_next_update_invalid" && strings.Contains(f.Details, "Subscriber Certificates") {
			res.Findings[i].Accepted = "the root's CRL lists CA certificates only; its validity is at most MaxRootCRLValidity, within the BR's 12 months for CA CRLs"
		}
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("fails lint, not signed: %w", err)
	}
	return nil
}

// acceptExpiredCertsOnCRL is why the CA/B BR warning on expiredCertsOnCRL
// is accepted, and only for that extension: the BR profile is for TLS
// CRLs; EN 319 411-2 long-term validation keeps revoked qualified
// certificates listed after they expire, which is what the extension says.
const acceptExpiredCertsOnCRL = "EN 319 411-2: the qualified CA keeps expired revoked certificates on its CRL (long-term validation); the CA/B TLS profile does not apply"

func throwawayLike(pub crypto.PublicKey) (crypto.Signer, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.GenerateKey(k.Curve, rand.Reader)
	case *rsa.PublicKey:
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("lint: no throwaway key for %T", pub)
}

func verifyDigest(pub crypto.PublicKey, h crypto.Hash, digest, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("ECDSA signature invalid")
		}
		return nil
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, h, digest, sig)
	}
	return fmt.Errorf("no verifier for %T", pub)
}
