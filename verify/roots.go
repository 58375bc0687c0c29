package verify

import (
	"context"
	"crypto/x509"
	"fmt"

	"github.com/muhr-pki/muhr/store"
)

// CALister lists the center's CAs; store.Store satisfies it.
type CALister interface {
	ListCAs(ctx context.Context) ([]store.CA, error)
}

// CenterRoots are the self-signed CA certificates of the center: the
// default trust anchors.
func CenterRoots(ctx context.Context, src CALister) ([]*x509.Certificate, error) {
	cas, err := src.ListCAs(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify: the center's roots: %w", err)
	}
	var out []*x509.Certificate
	for _, c := range cas {
		if c.ParentID != "" || len(c.CertDER) == 0 {
			continue
		}
		cert, err := x509.ParseCertificate(c.CertDER)
		if err != nil {
			return nil, fmt.Errorf("verify: root %s: %w", c.ID, err)
		}
		out = append(out, cert)
	}
	return out, nil
}
