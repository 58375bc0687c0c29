package pkcs11

import (
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"

	"github.com/muhr-pki/muhr/hsm"
)

// keyAttrs is what the token says about how a private key is protected and
// what it may be used for.
type keyAttrs struct {
	Sensitive        bool
	Extractable      bool
	AlwaysSensitive  bool
	NeverExtractable bool
	Sign             bool
	Decrypt          bool
	Unwrap           bool
	Derive           bool
}

var keyAttrTypes = []uint{
	pkcs11.CKA_SENSITIVE, pkcs11.CKA_EXTRACTABLE,
	pkcs11.CKA_ALWAYS_SENSITIVE, pkcs11.CKA_NEVER_EXTRACTABLE,
	pkcs11.CKA_SIGN, pkcs11.CKA_DECRYPT, pkcs11.CKA_UNWRAP, pkcs11.CKA_DERIVE,
}

// keyAttrsFrom reads the attribute values GetAttributeValue returned. An
// attribute the token did not report reads as false, which is the safe side
// for the protection flags (the key is refused) and for the usage flags.
func keyAttrsFrom(attrs []*pkcs11.Attribute) keyAttrs {
	var k keyAttrs
	for _, a := range attrs {
		v := len(a.Value) == 1 && a.Value[0] != 0
		switch a.Type {
		case pkcs11.CKA_SENSITIVE:
			k.Sensitive = v
		case pkcs11.CKA_EXTRACTABLE:
			k.Extractable = v
		case pkcs11.CKA_ALWAYS_SENSITIVE:
			k.AlwaysSensitive = v
		case pkcs11.CKA_NEVER_EXTRACTABLE:
			k.NeverExtractable = v
		case pkcs11.CKA_SIGN:
			k.Sign = v
		case pkcs11.CKA_DECRYPT:
			k.Decrypt = v
		case pkcs11.CKA_UNWRAP:
			k.Unwrap = v
		case pkcs11.CKA_DERIVE:
			k.Derive = v
		}
	}
	return k
}

// readKeyAttrs asks the token for keyAttrTypes. If the token refuses the
// whole template (some do for one unknown attribute), it asks one at a time
// and leaves out what it cannot read.
func readKeyAttrs(p11 *pkcs11.Ctx, sh pkcs11.SessionHandle, obj pkcs11.ObjectHandle) (keyAttrs, error) {
	tmpl := make([]*pkcs11.Attribute, len(keyAttrTypes))
	for i, t := range keyAttrTypes {
		tmpl[i] = pkcs11.NewAttribute(t, nil)
	}
	got, err := p11.GetAttributeValue(sh, obj, tmpl)
	if err == nil {
		return keyAttrsFrom(got), nil
	}
	if !isCKR(err, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID, pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
		return keyAttrs{}, err
	}
	var all []*pkcs11.Attribute
	for _, t := range keyAttrTypes {
		one, err := p11.GetAttributeValue(sh, obj, []*pkcs11.Attribute{pkcs11.NewAttribute(t, nil)})
		if err == nil {
			all = append(all, one...)
		} else if sessionLost(err) {
			return keyAttrs{}, err
		}
	}
	return keyAttrsFrom(all), nil
}

// checkSigningKey refuses a private key that could ever have left the token
// in clear (hsm.ErrKeyExtractable) or that may do more than sign.
func checkSigningKey(label string, k keyAttrs) error {
	var bad []string
	if !k.Sensitive {
		bad = append(bad, "CKA_SENSITIVE=false")
	}
	if k.Extractable {
		bad = append(bad, "CKA_EXTRACTABLE=true")
	}
	if !k.AlwaysSensitive {
		bad = append(bad, "CKA_ALWAYS_SENSITIVE=false")
	}
	if !k.NeverExtractable {
		bad = append(bad, "CKA_NEVER_EXTRACTABLE=false")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: key %q has %s; generate a new key on the token instead", hsm.ErrKeyExtractable, label, strings.Join(bad, ", "))
	}
	var extra []string
	if k.Decrypt {
		extra = append(extra, "CKA_DECRYPT=true")
	}
	if k.Unwrap {
		extra = append(extra, "CKA_UNWRAP=true")
	}
	if k.Derive {
		extra = append(extra, "CKA_DERIVE=true")
	}
	if len(extra) > 0 {
		return fmt.Errorf("pkcs11: key %q may do more than sign (%s); a signing key must not", label, strings.Join(extra, ", "))
	}
	if !k.Sign {
		return fmt.Errorf("pkcs11: key %q has CKA_SIGN=false", label)
	}
	return nil
}
