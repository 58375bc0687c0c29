package api

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// TLSOptions configure the officer listener's TLS.
type TLSOptions struct {
	// Certificate is the listener's server certificate (issued by the
	// management CA, key on the token).
	Certificate tls.Certificate
	// ClientCAs holds the management CA: the only issuer of officers'
	// certificates.
	ClientCAs *x509.CertPool
	// Refused audits a client refused in the handshake (cert nil: none
	// sent); its error is logged by the caller's handshake error log.
	Refused func(cert *x509.Certificate, remote, reason string)
}

// TLSConfig is the officer listener's TLS: 1.2 or newer, and a client
// certificate the management CA issued for clientAuth, or the handshake
// fails. It does what tls.RequireAndVerifyClientCert does, verifying in
// VerifyConnection instead, so that each refusal can be audited with the
// client's address (the standard mode fails before any callback).
func TLSConfig(o TLSOptions) (*tls.Config, error) {
	if o.ClientCAs == nil || len(o.Certificate.Certificate) == 0 {
		return nil, errors.New("officer api: server certificate and client CA are required")
	}
	base := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{o.Certificate},
		ClientCAs:    o.ClientCAs,
		// Asks for a certificate and lets VerifyConnection decide: no
		// certificate or one that does not verify ends the handshake.
		ClientAuth: tls.RequestClientCert,
		NextProtos: []string{"h2", "http/1.1"},
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			remote := ""
			if hello.Conn != nil {
				remote = hello.Conn.RemoteAddr().String()
			}
			c := base.Clone()
			c.VerifyConnection = func(cs tls.ConnectionState) error {
				return verifyClient(cs, o, remote)
			}
			return c, nil
		},
	}, nil
}

func verifyClient(cs tls.ConnectionState, o TLSOptions, remote string) error {
	refuse := func(cert *x509.Certificate, reason string) error {
		if o.Refused != nil {
			o.Refused(cert, remote, reason)
		}
		return fmt.Errorf("officer api: %s", reason)
	}
	if len(cs.PeerCertificates) == 0 {
		return refuse(nil, "no client certificate")
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: o.ClientCAs, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return refuse(leaf, "client certificate not issued by the management CA for clientAuth: "+err.Error())
	}
	return nil
}
