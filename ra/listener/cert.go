// Package listener gives the officer API's HTTPS listener its server
// certificate: issued by the management CA for a key generated on the
// token, recorded like every certificate (serial reserved, row stored,
// cert.issue audited) and found again at the next start, so the key never
// leaves the HSM and officers' configs trust the management CA alone.
package listener

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
)

// Name is the officer listener's name in listener_certs.
const Name = "officer"

// Profile is recorded with the listener's certificate.
const Profile = "officer-listener/v1"

// Validity of a new listener certificate; it is renewed at start once less
// than Renew is left.
const (
	Validity = 365 * 24 * time.Hour
	Renew    = 30 * 24 * time.Hour
)

// Store is what the listener certificate needs from the database.
type Store interface {
	GetCA(ctx context.Context, id string) (store.CA, error)
	GetCertificate(ctx context.Context, issuerID string, serial *big.Int) (store.Certificate, error)
	LatestListenerCert(ctx context.Context, name string) (store.ListenerCert, error)
	InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error
}

// Keys finds and generates keys on the token (*pkcs11.Token).
type Keys interface {
	Signer(ctx context.Context, label string) (crypto.Signer, error)
	Generate(ctx context.Context, label string, alg hsm.KeyAlgorithm) (crypto.Signer, error)
}

// Options say which CA issues and for which names.
type Options struct {
	Store Store
	Keys  Keys
	// CAID is the management CA.
	CAID string
	// Hosts are the names and addresses clients reach the listener by
	// (the host of admin_listen; loopback is always included).
	Hosts []string
	Clock func() time.Time
	Rand  io.Reader
	Actor string // audit actor ("muhrd")
}

// Result is the listener's certificate and the management CA.
type Result struct {
	TLS    tls.Certificate
	CA     *x509.Certificate
	Issued bool // a new certificate was issued at this start
}

func hostsOf(hosts []string) (dns []string, ips []net.IP) {
	dns = []string{"localhost"}
	ips = []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
	for _, h := range hosts {
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() && !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			continue
		}
		if !slices.Contains(dns, h) {
			dns = append(dns, h)
		}
	}
	return dns, ips
}

// covers reports whether c is valid for every host.
func covers(c *x509.Certificate, dns []string, ips []net.IP) bool {
	for _, d := range dns {
		if c.VerifyHostname(d) != nil {
			return false
		}
	}
	for _, ip := range ips {
		if c.VerifyHostname(ip.String()) != nil {
			return false
		}
	}
	return true
}

// ServerCert returns the listener certificate on record when it is valid
// long enough and covers the hosts, else issues a new one.
func ServerCert(ctx context.Context, o Options) (Result, error) {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Actor == "" {
		o.Actor = "muhrd"
	}
	row, err := o.Store.GetCA(ctx, o.CAID)
	if err != nil {
		return Result{}, fmt.Errorf("officer listener: management CA %s: %w", o.CAID, err)
	}
	caCert, err := x509.ParseCertificate(row.CertDER)
	if err != nil {
		return Result{}, fmt.Errorf("officer listener: management CA certificate: %w", err)
	}
	dns, ips := hostsOf(o.Hosts)
	now := o.Clock().UTC()
	lc, err := o.Store.LatestListenerCert(ctx, Name)
	switch {
	case err == nil && lc.IssuerID == o.CAID && lc.NotAfter.After(now.Add(Renew)):
		c, err := o.Store.GetCertificate(ctx, lc.IssuerID, lc.Serial)
		if err != nil {
			return Result{}, err
		}
		leaf, err := x509.ParseCertificate(c.DER)
		if err != nil {
			return Result{}, err
		}
		if covers(leaf, dns, ips) {
			key, err := o.Keys.Signer(ctx, lc.KeyLabel)
			if err == nil {
				return Result{TLS: tls.Certificate{Certificate: [][]byte{c.DER}, PrivateKey: key, Leaf: leaf}, CA: caCert}, nil
			}
		}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return Result{}, err
	}
	return issue(ctx, o, row, caCert, dns, ips, now)
}

func issue(ctx context.Context, o Options, row store.CA, caCert *x509.Certificate, dns []string, ips []net.IP, now time.Time) (Result, error) {
	caKey, err := o.Keys.Signer(ctx, row.KeyLabel)
	if err != nil {
		return Result{}, fmt.Errorf("officer listener: management CA key %s: %w", row.KeyLabel, err)
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(o.Rand, b); err != nil {
		return Result{}, err
	}
	label := "officer-api-" + hex.EncodeToString(b)
	key, err := o.Keys.Generate(ctx, label, hsm.ECDSAP256)
	if err != nil {
		return Result{}, fmt.Errorf("officer listener: generate key %s: %w", label, err)
	}
	serial, err := policy.NewSerial(o.Rand)
	if err != nil {
		return Result{}, err
	}
	ski, err := policy.KeyID(key.Public())
	if err != nil {
		return Result{}, err
	}
	notAfter := now.Add(Validity)
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Country: []string{"TJ"}, CommonName: "Muhr officer API"},
		NotBefore:    now.Add(-time.Minute).Truncate(time.Second),
		NotAfter:     notAfter,
		SubjectKeyId: ski,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	// Linted before the CA key signs, like every certificate the center makes.
	res, err := policy.PreIssue(tmpl, caCert, key.Public(), policy.KindInternalTLS)
	if err != nil {
		return Result{}, fmt.Errorf("officer listener: lint: %w", err)
	}
	if err := res.Err(); err != nil {
		return Result{}, fmt.Errorf("officer listener: lint refused the certificate: %w", err)
	}
	der, err := x509.CreateCertificate(o.Rand, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return Result{}, fmt.Errorf("officer listener: sign certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return Result{}, err
	}
	sum := sha256.Sum256(der)
	obj := fmt.Sprintf("cert/%s/%x", row.ID, serial)
	err = o.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.ReserveSerial(ctx, store.SerialReservation{IssuerID: row.ID, Serial: serial, Purpose: Profile, ReservedAt: now}); err != nil {
			return err
		}
		if err := tx.InsertCertificate(ctx, store.Certificate{IssuerID: row.ID, Serial: serial, Subject: policy.SubjectString(leaf.RawSubject),
			Profile: Profile, NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, DER: der, Status: store.CertStatusValid}); err != nil {
			return err
		}
		if err := tx.InsertListenerCert(ctx, store.ListenerCert{Name: Name, IssuerID: row.ID, Serial: serial, KeyLabel: label, NotAfter: leaf.NotAfter}); err != nil {
			return err
		}
		_, err := audit.Append(ctx, tx, now, audit.Entry{Actor: o.Actor, Action: "cert.issue", Object: obj,
			Details: map[string]any{"profile": Profile, "subject": policy.SubjectString(leaf.RawSubject), "key": label,
				"sha256": hex.EncodeToString(sum[:]), "dns": dns, "not_after": leaf.NotAfter.UTC().Format(time.RFC3339)}})
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("officer listener: record certificate: %w", err)
	}
	return Result{TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, CA: caCert, Issued: true}, nil
}
