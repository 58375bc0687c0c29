package raclient_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/raclient"
	"github.com/muhr-pki/muhr/raclient/ratest"
)

func client(t *testing.T, cfgPath string) *raclient.Client {
	t.Helper()
	cfg, err := raclient.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := raclient.New(context.Background(), raclient.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRefusedCarriesServerError(t *testing.T) {
	srv := ratest.New(t)
	reg := client(t, srv.AddOfficer(t, "registrar1", "registrar", "approver").Config)
	ctx := context.Background()
	me, err := reg.Whoami(ctx)
	if err != nil || me.Name != "registrar1" {
		t.Fatalf("whoami: %+v %v", me, err)
	}
	_, err = reg.CreateSubscriber(ctx, raclient.SubscriberInput{Kind: "person", Person: &raclient.Person{Surname: "Раҳимов", GivenName: "Фирӯз", PersonalNumber: "12", Country: "TJ"}})
	var ref *raclient.Refused
	if !errors.As(err, &ref) || ref.Status != 400 || ref.Field != "personal_number" || ref.Kind != "invalid" {
		t.Fatalf("bad personal number: %#v", err)
	}
	sub, err := reg.CreateSubscriber(ctx, raclient.SubscriberInput{Kind: "person", Person: &raclient.Person{Surname: "Раҳимов", GivenName: "Фирӯз", PersonalNumber: "123456789", Country: "TJ"}})
	if err != nil || sub.Person.Surname != "Раҳимов" {
		t.Fatalf("register: %+v %v", sub, err)
	}
	_, err = reg.Request(ctx, "r-nope")
	if !errors.As(err, &ref) || ref.Status != 404 || ref.Kind != "not_found" || !strings.Contains(err.Error(), "no request r-nope") {
		t.Fatalf("missing request: %v", err)
	}
	// An auditor calling a registrar's endpoint is refused by role.
	aud := client(t, srv.AddOfficer(t, "auditor", "auditor").Config)
	if _, err := aud.CreateSubscriber(ctx, raclient.SubscriberInput{Kind: "person"}); !errors.As(err, &ref) || ref.Status != 403 {
		t.Fatalf("auditor registering: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	srv := ratest.New(t)
	f := srv.AddOfficer(t, "registrar1", "registrar")
	cfg, err := raclient.LoadConfig(f.Config)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing listens: dial fails.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	down := cfg
	down.Server = "https://" + addr
	c, err := raclient.New(context.Background(), raclient.Options{Config: down})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Whoami(context.Background())
	var un *raclient.Unreachable
	if !errors.As(err, &un) || !strings.Contains(err.Error(), "is muhrd running") {
		t.Fatalf("server down: %v", err)
	}

	// A server that accepts and never answers: the timeout ends the call.
	hang, _ := net.Listen("tcp", "127.0.0.1:0")
	defer hang.Close()
	go func() {
		for {
			conn, err := hang.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	slow := cfg
	slow.Server = "https://" + hang.Addr().String()
	slow.Timeout = 300 * time.Millisecond
	c2, err := raclient.New(context.Background(), raclient.Options{Config: slow})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	start := time.Now()
	_, err = c2.Whoami(context.Background())
	if !errors.As(err, &un) || time.Since(start) > 3*time.Second {
		t.Fatalf("hanging server: %v after %s", err, time.Since(start))
	}

	// A server certificate from another CA: TLS fails, with the fix named.
	other := ratest.New(t)
	wrongCA := cfg
	wrongCA.CABundle = other.CAFile
	c3, err := raclient.New(context.Background(), raclient.Options{Config: wrongCA})
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if _, err = c3.Whoami(context.Background()); !errors.As(err, &un) || !strings.Contains(err.Error(), "ca_bundle") {
		t.Fatalf("server from another CA: %v", err)
	}

	// A client certificate from another CA: the server's TLS refuses it.
	stranger := other.AddOfficer(t, "stranger", "registrar")
	sc, err := raclient.LoadConfig(stranger.Config)
	if err != nil {
		t.Fatal(err)
	}
	sc.Server, sc.CABundle = cfg.Server, cfg.CABundle
	c4, err := raclient.New(context.Background(), raclient.Options{Config: sc})
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	if _, err = c4.Whoami(context.Background()); !errors.As(err, &un) || !strings.Contains(err.Error(), "client certificate") {
		t.Fatalf("client certificate from another CA: %v", err)
	}
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	good := "server: https://127.0.0.1:8443/\nca_bundle: ca.pem\ncert: me.crt\nkey: me.key\n"
	c, err := raclient.ParseConfig([]byte(good), dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.CABundle != filepath.Join(dir, "ca.pem") || c.Key != filepath.Join(dir, "me.key") || c.Server != "https://127.0.0.1:8443" || c.Timeout != raclient.DefaultTimeout {
		t.Fatalf("resolved: %+v", c)
	}
	for _, tc := range []struct{ body, want string }{
		{good + "sever: x\n", "sever"},
		{"server: http://127.0.0.1:8443\nca_bundle: a\ncert: b\nkey: c\n", "https://"},
		{"server: https://h\ncert: b\n", "missing ca_bundle, key"},
		{"", "empty"},
		{good + "module: /lib/x.so\n", "pkcs11"},
		{"server: https://h\nca_bundle: a\ncert: b\nkey: pkcs11:token=t;object=o?pin-value=1234\n", "pin-value is refused"},
		{"server: https://h\nca_bundle: a\ncert: b\nkey: pkcs11:token=t\n", "object="},
		{good + "timeout: soon\n", "soon"},
	} {
		_, err := raclient.ParseConfig([]byte(tc.body), dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v; want an error with %q", tc.body, err, tc.want)
		}
	}
	if _, err := raclient.LoadConfig(filepath.Join(dir, "none.yaml")); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("missing file: %v", err)
	}
	for _, tc := range []struct{ flag, env, want string }{
		{"/a.yaml", "/b.yaml", "/a.yaml"},
		{"", "/b.yaml", "/b.yaml"},
		{"", "", "/home/x/.config/muhr/config.yaml"},
	} {
		if got, _ := raclient.ConfigPath(tc.flag, tc.env, "/home/x"); got != tc.want {
			t.Errorf("ConfigPath(%q,%q) = %q, want %q", tc.flag, tc.env, got, tc.want)
		}
	}
}

func TestParseSerial(t *testing.T) {
	for in, want := range map[string]string{
		"serial=0A1B2C":  "0A1B2C",
		"SERIAL=0a1b2c":  "0A1B2C",
		"a1b2c":          "0A1B2C",
		"000A1B2C":       "0A1B2C",
		" 0a:1b:2c \n":   "0A1B2C",
		"7FFF0000000001": "7FFF0000000001",
	} {
		got, err := raclient.NormalSerial(in)
		if err != nil || got != want {
			t.Errorf("%q: %q %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "serial=", "xyz", "-1", strings.Repeat("f", 65)} {
		if _, err := raclient.ParseSerial(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// An officer's key on a smart card (a SoftHSM2 token) authenticates the
// mTLS connection: the TLS handshake is signed on the card.
func TestPKCS11KeyForMTLS(t *testing.T) {
	srv := ratest.New(t)
	tok := testpki.SoftHSM(t)
	ctx := context.Background()
	card, err := pkcs11.Open(ctx, tok.Config(1))
	if err != nil {
		t.Fatal(err)
	}
	k, err := card.Generate(ctx, "registrar1", hsm.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	f := srv.AddOfficerKey(t, "registrar1", k, "registrar")
	card.Close()
	os.Remove(f.Key) // nothing of the key exists outside the card
	uri := fmt.Sprintf("pkcs11:token=%s;object=registrar1", url.PathEscape(tok.Label))
	body := fmt.Sprintf("server: %s\nca_bundle: %s\ncert: %s\nkey: %q\nmodule: %s\npin_file: %s\n", srv.URL, srv.CAFile, f.Cert, uri, tok.Module, tok.PINFile)
	if err := os.WriteFile(f.Config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	// The PIN from the prompt when no pin file is named; a wrong PIN is
	// refused without showing it. (Before any good login: login state is
	// shared by the whole process.)
	cfg, _ := raclient.LoadConfig(f.Config)
	cfg.PINFile = ""
	_, err = raclient.New(ctx, raclient.Options{Config: cfg, PIN: func(string) ([]byte, error) { return []byte("wrong-pin-5521"), nil }})
	if !errors.Is(err, hsm.ErrPINIncorrect) || strings.Contains(err.Error(), "wrong-pin-5521") {
		t.Fatalf("wrong PIN: %v", err)
	}
	if _, err = raclient.New(ctx, raclient.Options{Config: cfg}); err == nil || !strings.Contains(err.Error(), "pin_file") {
		t.Fatalf("no PIN source: %v", err)
	}
	c := client(t, f.Config)
	me, err := c.Whoami(ctx)
	if err != nil || me.Name != "registrar1" {
		t.Fatalf("whoami over a card key: %+v %v", me, err)
	}
	// A second call reuses or re-handshakes; either way it still works.
	if _, err := c.Whoami(ctx); err != nil {
		t.Fatal(err)
	}

	// A certificate for another key is caught before any connection.
	other := srv.AddOfficer(t, "registrar2", "registrar")
	cfg.Cert = other.Cert
	cfg.PINFile = tok.PINFile
	if _, err = raclient.New(ctx, raclient.Options{Config: cfg}); err == nil || !strings.Contains(err.Error(), "do not belong together") {
		t.Fatalf("mismatched cert: %v", err)
	}
}
