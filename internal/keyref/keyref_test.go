package keyref_test

import (
	"testing"

	"github.com/muhr-pki/muhr/internal/keyref"
)

func TestPKCS11URI(t *testing.T) {
	u, err := keyref.ParsePKCS11URI("pkcs11:token=Officer%20card;object=registrar1;type=private?module-path=/usr/lib/x.so&pin-source=file:/run/pin")
	if err != nil {
		t.Fatal(err)
	}
	if u.Token != "Officer card" || u.Object != "registrar1" || u.Module != "/usr/lib/x.so" || u.PINSource != "/run/pin" {
		t.Fatalf("%+v", u)
	}
	for _, bad := range []string{"pkcs11:token=a;object=b;id=%01", "pkcs11:token=a;object=b;type=cert", "pkcs11:token=a;object=b?pin-value=1", "pkcs11:object=b", "pkcs11:token"} {
		if _, err := keyref.ParsePKCS11URI(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
