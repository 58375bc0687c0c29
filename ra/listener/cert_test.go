package listener_test

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/ra/listener"
	"github.com/muhr-pki/muhr/ra/ratest"
	"github.com/muhr-pki/muhr/store"
)

func TestServerCertIssuedOnceAndReused(t *testing.T) {
	c := ratest.New(t, "sqlite", nil)
	ctx := context.Background()
	cas, err := c.Store.ListCAs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mgmt := ""
	for _, r := range cas {
		if r.Kind == store.CAKindManagement {
			mgmt = r.ID
		}
	}
	o := listener.Options{Store: c.Store, Keys: c.Keys, CAID: mgmt, Hosts: []string{"127.0.0.1"}}
	first, err := listener.ServerCert(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Issued {
		t.Fatal("first start issued no certificate")
	}
	leaf := first.TLS.Leaf
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.MgmtPool, DNSName: "127.0.0.1", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("listener certificate does not verify against the management CA: %v", err)
	}
	again, err := listener.ServerCert(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if again.Issued || again.TLS.Leaf.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("second start issued %x (first %x)", again.TLS.Leaf.SerialNumber, leaf.SerialNumber)
	}
	// A new host name is not covered: a new certificate.
	o.Hosts = []string{"officers.example.tj"}
	other, err := listener.ServerCert(ctx, o)
	if err != nil || !other.Issued || other.TLS.Leaf.VerifyHostname("officers.example.tj") != nil {
		t.Fatalf("new host: %+v, %v", other.Issued, err)
	}
	// The key is on the token and signs.
	if _, err := c.Keys.Signer(ctx, "nonexistent"); err == nil {
		t.Fatal("token finds a key that does not exist")
	}
	err = c.Store.ReadSnapshot(ctx, func(ctx context.Context, r store.Reader) error {
		_, err := audit.Check(ctx, r, audit.Options{})
		return err
	})
	if err != nil {
		t.Fatalf("audit check with listener certificates: %v", err)
	}
}
