package ca

import (
	"context"
	"crypto/x509"
	"io"
)

// SetFailpoint installs a hook that runs at each Stage of Issue; an error
// from it stops Issue there, as a crash would. Tests only.
func SetFailpoint(o *IssuerOptions, fp func(Stage) error) { o.failpoint = fp }

// SetCertificateMaker replaces x509.CreateCertificate in Issue, so a test
// can play a signing path that tampers with the certificate.
func SetCertificateMaker(o *IssuerOptions, f func(rand io.Reader, tmpl, parent *x509.Certificate, pub, priv any) ([]byte, error)) {
	o.makeCert = f
}

// Halt stops the Issuer as kill -9 would: no more renewals, no release, no
// clean-up of its intents. Its lease runs out on its own.
func (i *Issuer) Halt() {
	i.mu.Lock()
	i.closed = true
	i.mu.Unlock()
	i.stop()
	<-i.loopDone
}

// RenewNow renews the lease as the background loop does.
func (i *Issuer) RenewNow(ctx context.Context) error { return i.renew(ctx) }
