package pkcs11

import (
	"errors"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/muhr-pki/muhr/hsm"
)

// attrs builds what C_GetAttributeValue would return for a private key.
func attrs(sensitive, extractable, alwaysSensitive, neverExtractable, decrypt bool) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, sensitive),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, extractable),
		pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_SENSITIVE, alwaysSensitive),
		pkcs11.NewAttribute(pkcs11.CKA_NEVER_EXTRACTABLE, neverExtractable),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, decrypt),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
	}
}

func TestCheckSigningKey(t *testing.T) {
	good := keyAttrsFrom(attrs(true, false, true, true, false))
	if err := checkSigningKey("ok", good); err != nil {
		t.Fatalf("good key refused: %v", err)
	}
	refused := []struct {
		name string
		a    []*pkcs11.Attribute
		want string
	}{
		{"extractable", attrs(true, true, true, false, false), "CKA_EXTRACTABLE=true"},
		{"not sensitive", attrs(false, false, false, true, false), "CKA_SENSITIVE=false"},
		{"once extractable", attrs(true, false, true, false, false), "CKA_NEVER_EXTRACTABLE=false"},
		{"once in clear", attrs(true, false, false, true, false), "CKA_ALWAYS_SENSITIVE=false"},
	}
	for _, c := range refused {
		err := checkSigningKey(c.name, keyAttrsFrom(c.a))
		if !errors.Is(err, hsm.ErrKeyExtractable) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrKeyExtractable naming %s", c.name, err, c.want)
		}
	}
	// A token that does not report the flags at all is refused too.
	if err := checkSigningKey("silent", keyAttrsFrom(nil)); !errors.Is(err, hsm.ErrKeyExtractable) {
		t.Errorf("key with no attributes: %v", err)
	}
	err := checkSigningKey("decrypts", keyAttrsFrom(attrs(true, false, true, true, true)))
	if err == nil || errors.Is(err, hsm.ErrKeyExtractable) || !strings.Contains(err.Error(), "CKA_DECRYPT=true") {
		t.Errorf("decrypting key: %v", err)
	}
}

func TestErrorClasses(t *testing.T) {
	for _, c := range []uint{pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_DEVICE_REMOVED,
		pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_USER_NOT_LOGGED_IN, pkcs11.CKR_DEVICE_ERROR} {
		if !sessionLost(pkcs11.Error(c)) {
			t.Errorf("%v not treated as lost session", pkcs11.Error(c))
		}
	}
	if sessionLost(pkcs11.Error(pkcs11.CKR_MECHANISM_INVALID)) || sessionGone(pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN)) {
		t.Error("wrong class")
	}
	err := loginError("tok", pkcs11.Error(pkcs11.CKR_PIN_LOCKED))
	if !errors.Is(err, hsm.ErrPINIncorrect) || !strings.Contains(err.Error(), "locked") {
		t.Errorf("locked PIN: %v", err)
	}
	if err := pinFlagsError("tok", pkcs11.CKF_USER_PIN_INITIALIZED|pkcs11.CKF_USER_PIN_FINAL_TRY); !errors.Is(err, hsm.ErrPINIncorrect) {
		t.Errorf("final try not refused: %v", err)
	}
}
