package raclient

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/muhr-pki/muhr/internal/keyref"
	"os"

	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/secret"
)

// loadClientCert returns the officer's TLS certificate with its key: a PEM
// file, or a signer on the officer's smart card. closeFn lets go of the card.
func loadClientCert(ctx context.Context, c Config, askPIN func(string) ([]byte, error)) (tls.Certificate, func() error, error) {
	noop := func() error { return nil }
	chain, leaf, err := loadCertChain(c.Cert)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	var key crypto.Signer
	closeFn := noop
	if keyref.IsPKCS11URI(c.Key) {
		s, tok, err := cardSigner(ctx, c, askPIN)
		if err != nil {
			return tls.Certificate{}, nil, err
		}
		key, closeFn = s, tok.Close
	} else {
		// The key file is a secret like a PIN: owner-only, never echoed.
		b, err := secret.ReadFile(c.Key)
		if err != nil {
			return tls.Certificate{}, nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("key: %w", err))
		}
		k, err := keyref.ParseKeyPEM(b)
		if err != nil {
			return tls.Certificate{}, nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("key %s: %w", c.Key, err))
		}
		key = k
	}
	if !samePublic(key.Public(), leaf.PublicKey) {
		_ = closeFn()
		return tls.Certificate{}, nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("cert %s and key %s do not belong together (the certificate is for another key)", c.Cert, c.Key))
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, closeFn, nil
}

func loadCertChain(path string) ([][]byte, *x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("cert: %w", err))
	}
	var chain [][]byte
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			chain = append(chain, blk.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("cert %s holds no PEM certificate", path))
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("cert %s: %w", path, err))
	}
	return chain, leaf, nil
}

func samePublic(a, b crypto.PublicKey) bool {
	x, err1 := x509.MarshalPKIXPublicKey(a)
	y, err2 := x509.MarshalPKIXPublicKey(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// cardSigner opens the officer's card named by the pkcs11: URI and finds
// the key. The PIN comes from pin-source, pin_file or the prompt.
func cardSigner(ctx context.Context, c Config, askPIN func(string) ([]byte, error)) (crypto.Signer, *pkcs11.Token, error) {
	u, err := keyref.ParsePKCS11URI(c.Key)
	if err != nil {
		return nil, nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("key: %w", err))
	}
	module := u.Module
	if module == "" {
		module = c.Module
	}
	if module == "" {
		return nil, nil, errkind.Wrap(errkind.Invalid, errors.New("key is a pkcs11: URI but no module is named; add module: /path/to/the/card's/pkcs11.so to the officer config"))
	}
	pinFile := u.PINSource
	if pinFile == "" {
		pinFile = c.PINFile
	}
	var pin []byte
	switch {
	case pinFile != "":
		pin, err = secret.ReadFile(pinFile)
		if err != nil {
			return nil, nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("pin_file: %w", err))
		}
	case askPIN != nil:
		pin, err = askPIN(fmt.Sprintf("PIN of card %q", u.Token))
		if err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("the PIN of card %q is needed: add pin_file: to the officer config or run on a terminal", u.Token))
	}
	tok, err := pkcs11.Open(ctx, pkcs11.Config{Module: module, TokenLabel: u.Token, PIN: pin, Sessions: 2})
	clear(pin)
	if err != nil {
		return nil, nil, fmt.Errorf("officer card: %w", err)
	}
	if u.Serial != "" {
		info, err := tok.Info(ctx)
		if err != nil {
			tok.Close()
			return nil, nil, fmt.Errorf("officer card: %w", err)
		}
		if info.Serial != u.Serial {
			tok.Close()
			return nil, nil, errkind.Wrap(errkind.Invalid, fmt.Errorf("card %q has serial %s, not the serial=%s the key URI names: is it the right card?", u.Token, info.Serial, u.Serial))
		}
	}
	s, err := tok.Signer(ctx, u.Object)
	if err != nil {
		tok.Close()
		return nil, nil, fmt.Errorf("officer card: %w", err)
	}
	return s, tok, nil
}
