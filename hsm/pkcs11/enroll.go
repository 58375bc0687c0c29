package pkcs11

import (
	"context"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"
)

// TokenInfo is what a token says about itself (C_GetTokenInfo), for the
// evidence that a subscriber's key was generated on their device.
type TokenInfo struct {
	Label        string
	Serial       string
	Manufacturer string
	Model        string
}

// Info reads the token's own description from the slot it is in now.
func (t *Token) Info(ctx context.Context) (TokenInfo, error) {
	var out TokenInfo
	err := t.do(ctx, func(sh pkcs11.SessionHandle, _ uint64) error {
		si, err := t.p11.GetSessionInfo(sh)
		if err != nil {
			return err
		}
		ti, err := t.p11.GetTokenInfo(si.SlotID)
		if err != nil {
			return fmt.Errorf("pkcs11: token info of %q: %w", t.label, err)
		}
		// The fields are blank-padded fixed-width strings.
		out = TokenInfo{
			Label:        strings.TrimRight(ti.Label, " \x00"),
			Serial:       strings.TrimRight(ti.SerialNumber, " \x00"),
			Manufacturer: strings.TrimRight(ti.ManufacturerID, " \x00"),
			Model:        strings.TrimRight(ti.Model, " \x00"),
		}
		return nil
	})
	return out, err
}

// KeyProtection is how the token says a private key is protected, read
// back from the key itself (not from the template it was asked for).
type KeyProtection struct {
	Sensitive        bool
	Extractable      bool
	AlwaysSensitive  bool
	NeverExtractable bool
	// Local is CKA_LOCAL: the token generated the key itself (it was not
	// imported).
	Local bool
}

// KeyProtection reads the protection attributes of the private key
// labelled label.
func (t *Token) KeyProtection(ctx context.Context, label string) (KeyProtection, error) {
	var out KeyProtection
	err := t.do(ctx, func(sh pkcs11.SessionHandle, _ uint64) error {
		h, err := t.findOne(sh, label, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		})
		if err != nil {
			return err
		}
		a, err := readKeyAttrs(t.p11, sh, h)
		if err != nil {
			return fmt.Errorf("pkcs11: read attributes of %q: %w", label, err)
		}
		out = KeyProtection{Sensitive: a.Sensitive, Extractable: a.Extractable,
			AlwaysSensitive: a.AlwaysSensitive, NeverExtractable: a.NeverExtractable}
		// CKA_LOCAL unreadable reads as false: no claim the key was made here.
		if got, err := t.p11.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LOCAL, nil)}); err == nil {
			out.Local = len(got) == 1 && len(got[0].Value) == 1 && got[0].Value[0] != 0
		} else if sessionLost(err) {
			return err
		}
		return nil
	})
	return out, err
}
