package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/httpx"
	"github.com/muhr-pki/muhr/internal/center/issuing"
	"github.com/muhr-pki/muhr/ra"
	"github.com/muhr-pki/muhr/ra/api"
	"github.com/muhr-pki/muhr/ra/listener"
	"github.com/muhr-pki/muhr/store"
)

// officerListener is the officers' mTLS listener the ra role brings.
type officerListener struct {
	addr    string
	handler http.Handler
	tls     *tls.Config
}

// raConfigured keeps the ra role off unless ra.enabled: it logs in to the
// token for the CA keys and opens the officers' listener.
func raConfigured(c *config.Config) error {
	if !c.RA.Enabled {
		return errors.New("ra.enabled is false in muhrd.yaml")
	}
	if !c.Issuance.Configured() {
		return errors.New("ra needs issuance: in muhrd.yaml (issuance.policy_oid, issuance.pds)")
	}
	return nil
}

// mountRA builds registration on issuers of every active CA whose key is
// on the token, gives the officers' listener its certificate from the
// management CA (issued at the first start, key on the token) and serves
// the officer API there. Approval issues in this process: muhrd is the
// single writer of certificates.
func mountRA(ctx context.Context, e *edge) error {
	log := e.log.With("role", "ra")
	addr, err := e.cfg.AdminAddr(os.Getenv("MUHR_ADMIN_LISTEN"))
	if err != nil {
		return err
	}
	settings, err := issuing.Settings(e.cfg)
	if err != nil {
		return err
	}
	cas, err := e.store.ListCAs(ctx)
	if err != nil {
		return err
	}
	issuers := map[string]ra.Issuer{}
	mgmtID := ""
	for _, row := range cas {
		if row.Status != store.CAStatusActive || row.Kind == store.CAKindRoot {
			continue
		}
		if _, err := e.keys.Signer(ctx, row.KeyLabel); err != nil {
			log.Warn("ra: CA key not on this token; the CA does not issue here", "ca", row.ID, "key", row.KeyLabel, "err", err.Error())
			continue
		}
		iss, err := ca.NewIssuer(ctx, ca.IssuerOptions{CAID: row.ID, Store: e.store, Keys: e.keys, Settings: settings, Log: log,
			SignTimeout: e.cfg.HSM.SignTimeout})
		if err != nil {
			return fmt.Errorf("issuer of %s: %w", row.ID, err)
		}
		e.onClose(func() { _ = iss.Close() })
		issuers[row.ID] = iss
		e.useKey(row.KeyLabel)
		if row.Kind == store.CAKindManagement && mgmtID == "" {
			mgmtID = row.ID
		}
	}
	if mgmtID == "" {
		return fmt.Errorf("no active management CA has its key on token %s (officers' certificates come from it)", e.cfg.HSM.TokenLabel)
	}
	rv, err := ca.NewRevoker(ca.RevokerOptions{Store: e.store, MaxHold: e.cfg.Revocation.Effective().MaxHold})
	if err != nil {
		return err
	}
	svc, err := ra.New(ra.Options{Store: e.store, Issuers: issuers, Revoker: rv, Rules: settings.Rules, Log: log,
		EvidenceDir: e.cfg.RA.EvidenceDir, AgreementVersion: e.cfg.RA.AgreementVersion, PDSVersion: e.cfg.RA.PDSVersion})
	if err != nil {
		return err
	}
	keys, ok := e.keys.(listener.Keys)
	if !ok {
		return errors.New("the token cannot generate the officer listener's key")
	}
	host, _, _ := net.SplitHostPort(addr)
	cert, err := listener.ServerCert(ctx, listener.Options{Store: e.store, Keys: keys, CAID: mgmtID, Hosts: []string{host}, Actor: "muhrd"})
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.CA)
	tc, err := api.TLSConfig(api.TLSOptions{Certificate: cert.TLS, ClientCAs: pool, Refused: func(c *x509.Certificate, remote, reason string) {
		actx, cancel := context.WithTimeout(context.WithoutCancel(e.svc), 10*time.Second)
		defer cancel()
		if err := svc.Refused(actx, c, remote, reason); err != nil {
			log.Error("ra: audit refused client", "remote", remote, "err", err.Error())
		}
	}})
	if err != nil {
		return err
	}
	h := httpx.Wrap(api.New(svc, log), httpx.Options{Listener: listenerOfficer, Logger: log})
	e.officer = &officerListener{addr: addr, handler: h, tls: tc}
	log.Info("ra: officer API", "listen", addr, "cas", len(issuers), "management_ca", mgmtID,
		"server_cert_serial", ra.SerialHex(cert.TLS.Leaf.SerialNumber), "server_cert_new", cert.Issued, "not_after", cert.TLS.Leaf.NotAfter)
	return nil
}
