package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/sqlite"
)

// One muhrd with the ca and ocsp roles, on a center whose OCSP signer was
// certified for 9 seconds: the ca role makes a hold older than
// revocation.max_hold a revocation, audited; it renews the signer with a
// fresh key at two thirds of its life; the ocsp role, without a restart,
// answers with the new signer, and openssl verifies those answers.
func TestCARoleExpiresHoldsAndRenewsTheOCSPSigner(t *testing.T) {
	ossl := testpki.Tool(t, "openssl")
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "muhr.db")
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tok := testpki.SoftHSM(t)
	keys, err := pkcs11.Open(ctx, tok.Config(2))
	if err != nil {
		t.Fatal(err)
	}
	var plan ca.Plan
	if err := config.LoadStrict("../../configs/ceremony-demo.yaml", &plan); err != nil {
		t.Fatal(err)
	}
	plan.Issuing[0].OCSPSigner.Validity = 9 * time.Second
	made, err := (&ca.Ceremony{Keys: keys, Store: st, PublicURL: "http://127.0.0.1:8080"}).Run(ctx, &plan)
	keys.Close()
	if err != nil {
		t.Fatal(err)
	}
	var root, issuing, oldSigner *x509.Certificate
	for _, m := range made {
		switch {
		case m.Role == "root":
			root = m.Cert
		case m.Role == "issuing" && m.ID == "qca-demo":
			issuing = m.Cert
		case m.Role == "ocsp" && m.ID == "qca-demo":
			oldSigner = m.Cert
		}
	}
	old, err := st.LatestSigner(ctx, store.SignerRoleOCSP, "qca-demo")
	if err != nil {
		t.Fatal(err)
	}
	// A certificate on hold since now.
	const held = 0x7001
	revokeSQL(t, st, held) // stores it (revoked); make it a hold instead
	if _, err := st.DB().Exec(`UPDATE certificates SET status = 'valid', revoked_at = NULL, revocation_reason = NULL
		WHERE issuer_id = 'qca-demo' AND serial = ?`, big.NewInt(held).Text(16)); err != nil {
		t.Fatal(err)
	}
	rv, err := ca.NewRevoker(ca.RevokerOptions{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rv.Suspend(ctx, "qca-demo", big.NewInt(held), "duty-officer"); err != nil {
		t.Fatal(err)
	}

	cfg := filepath.Join(dir, "muhrd.yaml")
	writeFile(t, cfg, fmt.Sprintf("listen: 127.0.0.1:0\nops_listen: \"\"\nlog: {level: info}\npublic_url: http://127.0.0.1:8080\n"+
		"database: {driver: sqlite, path: %s}\nhsm: {module: %s, token_label: %s, pin_file: %s, softhsm2_conf: %s}\n"+
		"crl: {enabled: true, poll: 1s, interval: 1h, validity: 72h}\n"+
		"ocsp: {enabled: true, validity: 1m, refresh_interval: 2s}\n"+
		"revocation: {max_hold: 3s, hold_check_interval: 500ms, ocsp_signer_validity: 1h, ocsp_signer_check_interval: 1s}\n",
		dbPath, tok.Module, tok.Label, tok.PINFile, tok.Conf))
	p := startProcRoles(t, cfg, "ca,ocsp")
	addr := p.wait(t)

	eventually(t, 15*time.Second, "the hold past max_hold revoked", p, func() bool {
		c, err := st.GetCertificate(ctx, "qca-demo", big.NewInt(held))
		return err == nil && c.Status == store.CertStatusRevoked
	})
	rec := lastAudit(t, st, "cert.revoke")
	if rec.Actor != ca.DefaultHoldActor {
		t.Errorf("hold expiry audited as %q", rec.Actor)
	}

	var renewed store.Signer
	eventually(t, 20*time.Second, "the OCSP signer renewed", p, func() bool {
		renewed, err = st.LatestSigner(ctx, store.SignerRoleOCSP, "qca-demo")
		return err == nil && renewed.KeyLabel != old.KeyLabel
	})
	if r := lastAudit(t, st, ca.ActionOCSPSignerRenew); r.Object != "ca/qca-demo" {
		t.Errorf("renewal audited on %q", r.Object)
	}
	newCert, err := x509.ParseCertificate(renewed.CertDER)
	if err != nil {
		t.Fatal(err)
	}
	req, err := xocsp.CreateRequest(oldSigner, issuing, nil)
	if err != nil {
		t.Fatal(err)
	}
	var last *xocsp.Response
	eventually(t, 20*time.Second, "answers signed by the renewed signer", p, func() bool {
		res, err := http.Post("http://"+addr+"/ocsp", "application/ocsp-request", bytes.NewReader(req))
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		last, err = xocsp.ParseResponseForCert(body, oldSigner, issuing)
		return err == nil && last.Certificate != nil && bytes.Equal(last.Certificate.Raw, newCert.Raw)
	})
	if last.Status != xocsp.Good {
		t.Fatalf("status %d", last.Status)
	}
	pemDir := t.TempDir()
	rootPEM, issPEM, certPEM := filepath.Join(pemDir, "root.pem"), filepath.Join(pemDir, "iss.pem"), filepath.Join(pemDir, "c.pem")
	for path, c := range map[string]*x509.Certificate{rootPEM: root, issPEM: issuing, certPEM: oldSigner} {
		if err := os.WriteFile(path, []byte(pemCert(c.Raw)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(ossl, "ocsp", "-issuer", issPEM, "-cert", certPEM, "-CAfile", rootPEM, "-url", "http://"+addr+"/ocsp",
		"-resp_text").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("Response verify OK")) || !bytes.Contains(out, []byte(certPEM+": good")) {
		t.Fatalf("openssl ocsp: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte(pemCert(newCert.Raw)[:60])) && !bytes.Contains(out, []byte("OCSP Responder")) {
		t.Errorf("openssl output lacks the responder certificate:\n%s", out)
	}
}

func eventually(t *testing.T, within time.Duration, what string, p *proc, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s\n%s", within, what, p.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lastAudit(t *testing.T, st store.Store, action string) store.AuditRecord {
	t.Helper()
	recs, err := st.AuditRecords(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Action == action {
			return recs[i]
		}
	}
	t.Fatalf("no %s audit record", action)
	return store.AuditRecord{}
}
