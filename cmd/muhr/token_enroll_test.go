package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/raclient"
	"github.com/muhr-pki/muhr/raclient/ratest"
)

// The subscriber's card is a second SoftHSM2 token: the key is generated
// on it, the CSR signed on it, and the request carries what the card says
// about the key.
func TestTokenEnroll(t *testing.T) {
	srv := ratest.New(t)
	reg := srv.AddOfficer(t, "registrar1", "registrar").Config
	appr := srv.AddOfficer(t, "registrar2", "registrar", "approver").Config
	card := testpki.SoftHSM(t)
	dir := t.TempDir()
	sub := registerPerson(t, reg)
	base := []string{"token", "enroll", "--config", reg, "--subscriber", sub, "--module", card.Module, "--token", card.Label}

	muhrRun(t, append(base, "--profile", "tls-server", "--pin-file", card.PINFile)...).must(t, 2, "enroll for tls-server")
	wrong := filepath.Join(dir, "wrong.pin")
	os.WriteFile(wrong, []byte("pin-not-this-7741"), 0o600)
	r := muhrRun(t, append(base, "--profile", "qes-person", "--pin-file", wrong)...)
	if r.code == 0 || strings.Contains(r.errOut, "pin-not-this-7741") || !strings.Contains(strings.ToLower(r.errOut), "pin") {
		t.Fatalf("wrong card PIN: exit %d\n%s", r.code, r.errOut)
	}

	csrOut := filepath.Join(dir, "card.csr")
	r = muhrRun(t, append(base, "--profile", "qes-person", "--pin-file", card.PINFile, "--key-label", "qes-key", "--csr-out", csrOut, "-o", "json")...).must(t, 0, "enroll")
	var res struct {
		ID      string                `json:"id"`
		Status  string                `json:"status"`
		Request raclient.Request      `json:"request"`
		QSCD    raclient.QSCDEvidence `json:"qscd"`
	}
	jsonOf(t, r, &res)
	if res.Status != "pending" || !res.Request.QSCD {
		t.Fatalf("enrolled: %+v", res)
	}
	for _, step := range []string{"generating", "signing the CSR on the card", "submitting"} {
		if !strings.Contains(r.errOut, step) {
			t.Errorf("no progress %q on stderr:\n%s", step, r.errOut)
		}
	}
	csrPEM, ev := srv.Submitted(res.ID)
	if ev == nil || ev.Extractable || !ev.Sensitive || !ev.Local || !ev.NeverExtractable || !ev.AlwaysSensitive ||
		ev.TokenLabel != card.Label || ev.TokenSerial == "" || ev.Manufacturer == "" || ev.KeyLabel != "qes-key" {
		t.Fatalf("evidence sent: %+v", ev)
	}

	// On the card itself: the key is there, non-extractable, and it is the
	// key the CSR (signed on the card) certifies.
	ctx := context.Background()
	tok, err := pkcs11.Open(ctx, card.Config(1))
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	prot, err := tok.KeyProtection(ctx, "qes-key")
	if err != nil || prot.Extractable || !prot.Sensitive || !prot.Local {
		t.Fatalf("key on the card: %+v %v", prot, err)
	}
	info, _ := tok.Info(ctx)
	if info.Serial != ev.TokenSerial {
		t.Errorf("card serial %q, evidence %q", info.Serial, ev.TokenSerial)
	}
	s, err := tok.Signer(ctx, "qes-key")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(csrPEM))
	req, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil || req.CheckSignature() != nil {
		t.Fatalf("CSR: %v", err)
	}
	want, _ := x509.MarshalPKIXPublicKey(s.Public())
	if !bytes.Equal(req.RawSubjectPublicKeyInfo, want) {
		t.Error("the CSR's key is not the card's key")
	}
	if b, _ := os.ReadFile(csrOut); string(b) != csrPEM {
		t.Error("--csr-out differs from what was submitted")
	}
	var done raclient.Request
	jsonOf(t, muhrRun(t, "request", "approve", res.ID, "--config", appr, "-o", "json").must(t, 0, "approve"), &done)
	if done.Status != "issued" || !done.QSCD {
		t.Fatalf("approved: %+v", done)
	}
	// The same label again is refused by the card, before anything is sent.
	r = muhrRun(t, append(base, "--profile", "qes-person", "--pin-file", card.PINFile, "--key-label", "qes-key")...)
	if r.code != 2 || !strings.Contains(r.errOut, "already") {
		t.Fatalf("label taken: exit %d\n%s", r.code, r.errOut)
	}
}

// An officer whose key is on their own card (a pkcs11: URI in the config)
// works like one with a key file; the PIN comes from pin_file.
func TestOfficerCardKeyConfig(t *testing.T) {
	srv := ratest.New(t)
	card := testpki.SoftHSM(t)
	ctx := context.Background()
	tok, err := pkcs11.Open(ctx, card.Config(1))
	if err != nil {
		t.Fatal(err)
	}
	k, err := tok.Generate(ctx, "officer-key", "ecdsa-p256")
	if err != nil {
		t.Fatal(err)
	}
	f := srv.AddOfficerKey(t, "registrar1", k, "registrar")
	tok.Close()
	os.Remove(f.Key)
	cfg := filepath.Join(t.TempDir(), "card.yaml")
	os.WriteFile(cfg, []byte("server: "+srv.URL+"\nca_bundle: "+srv.CAFile+"\ncert: "+f.Cert+
		"\nkey: \"pkcs11:token="+card.Label+";object=officer-key?module-path="+card.Module+"\"\npin_file: "+card.PINFile+"\n"), 0o600)
	r := muhrRun(t, "subscriber", "register", "person", "--config", cfg, "-o", "json", "--surname", "А", "--given-name", "Б",
		"--personal-number", "123123123", "--country", "TJ").must(t, 0, "register with a card key")
	var s raclient.Subscriber
	jsonOf(t, r, &s)
	if s.CreatedBy != "registrar1" {
		t.Errorf("acted as %q", s.CreatedBy)
	}
	os.WriteFile(cfg, []byte("server: "+srv.URL+"\nca_bundle: "+srv.CAFile+"\ncert: "+f.Cert+
		"\nkey: \"pkcs11:token=no-such-card;object=officer-key\"\nmodule: "+card.Module+"\npin_file: "+card.PINFile+"\n"), 0o600)
	r = muhrRun(t, "request", "list", "--config", cfg).must(t, 2, "card missing")
	if !strings.Contains(r.errOut, "no-such-card") {
		t.Errorf("missing card: %s", r.errOut)
	}
}
