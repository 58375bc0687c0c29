package pkcs11

import (
	"encoding/binary"
	"fmt"

	"github.com/miekg/pkcs11"

	"github.com/muhr-pki/muhr/hsm"
)

// findOne finds exactly one object matching tmpl; what names it in errors.
func (t *Token) findOne(sh pkcs11.SessionHandle, what string, tmpl []*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
	hs, err := t.findObjects(sh, tmpl)
	if err != nil {
		return 0, err
	}
	switch len(hs) {
	case 0:
		// Private objects are invisible without a login: if it was lost,
		// say so, so that do re-logs in instead of reporting a missing key.
		if !t.loggedIn(sh) {
			return 0, pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN)
		}
		return 0, fmt.Errorf("%w: %q on token %q", hsm.ErrKeyNotFound, what, t.label)
	case 1:
		return hs[0], nil
	}
	return 0, fmt.Errorf("pkcs11: %d private keys match %q on token %q; labels must be unique", len(hs), what, t.label)
}

// loggedIn reports whether the session (and so the application) is logged in.
func (t *Token) loggedIn(sh pkcs11.SessionHandle) bool {
	info, err := t.p11.GetSessionInfo(sh)
	return err == nil && (info.State == pkcs11.CKS_RO_USER_FUNCTIONS || info.State == pkcs11.CKS_RW_USER_FUNCTIONS)
}

func (t *Token) findObjects(sh pkcs11.SessionHandle, tmpl []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := t.p11.FindObjectsInit(sh, tmpl); err != nil {
		return nil, err
	}
	var out []pkcs11.ObjectHandle
	for {
		hs, _, err := t.p11.FindObjects(sh, 64)
		if err != nil {
			_ = t.p11.FindObjectsFinal(sh)
			return nil, err
		}
		out = append(out, hs...)
		if len(hs) < 64 {
			break
		}
	}
	if err := t.p11.FindObjectsFinal(sh); err != nil {
		return nil, err
	}
	return out, nil
}

// bytesToUint decodes a CK_ULONG attribute value, which the module writes
// in the host's byte order.
func bytesToUint(b []byte) uint {
	switch len(b) {
	case 8:
		return uint(binary.NativeEndian.Uint64(b))
	case 4:
		return uint(binary.NativeEndian.Uint32(b))
	}
	return ^uint(0) // CK_UNAVAILABLE_INFORMATION
}
