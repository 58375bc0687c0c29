package softhsm_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/hsm/softhsm"
	"github.com/muhr-pki/muhr/internal/testpki"
)

// newTokens makes a SoftHSM2 token directory with the labelled tokens in
// it, using softhsm2-util in a child process (this test process never
// loads the library).
func newTokens(t *testing.T, labels ...string) softhsm.Layout {
	t.Helper()
	util := testpki.Tool(t, "softhsm2-util")
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := "# test\ndirectories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, l := range labels {
		cmd := exec.Command(util, "--init-token", "--free", "--label", l, "--so-pin", "so-1234", "--pin", "user-5678")
		cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("softhsm2-util: %v\n%s", err, out)
		}
	}
	l, err := softhsm.LoadLayout(conf)
	if err != nil {
		t.Fatal(err)
	}
	if l.TokenDir != tokens || !l.Files {
		t.Fatalf("layout %+v", l)
	}
	return l
}

func entry(t *testing.T, l softhsm.Layout, label string) softhsm.Entry {
	t.Helper()
	es, err := softhsm.Scan(l.TokenDir)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := softhsm.Find(es, label)
	if !ok {
		t.Fatalf("no token %q in %+v", label, es)
	}
	return e
}

func TestParseRealTokenObject(t *testing.T) {
	l := newTokens(t, "parse-me")
	e := entry(t, l, "parse-me")
	if e.Problem != nil || e.Token.Serial == "" || e.Token.Generation == 0 || !e.Token.HasUserPIN {
		t.Fatalf("entry %+v", e)
	}
	b, err := os.ReadFile(filepath.Join(e.Dir, softhsm.TokenObject))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := softhsm.ParseTokenObject(nil); !errors.Is(err, softhsm.ErrEmpty) {
		t.Fatalf("empty: %v", err)
	}
	// Every cut short of the whole file is refused: a half-written file
	// must never be taken for a good copy.
	// (A cut exactly between attributes after the SO PIN parses, without
	// the user PIN; SoftHSM writes the file in one write(2), so a crash
	// leaves it empty or whole.)
	for n := 1; n < len(b); n++ {
		tf, err := softhsm.ParseTokenObject(b[:n])
		if err == nil && !tf.HasUserPIN {
			continue
		}
		if !errors.Is(err, softhsm.ErrCorrupt) {
			t.Fatalf("cut at %d of %d: %v", n, len(b), err)
		}
	}
}

func TestLayoutErrors(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{
		"log.level = ERROR\n":                "no directories.tokendir",
		"directories.tokendir = tokens\n":    "not absolute",
		"directories.tokendir = /x/tokens\n": "",
	} {
		p := filepath.Join(dir, "c.conf")
		os.WriteFile(p, []byte(body), 0o600)
		_, err := softhsm.LoadLayout(p)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
	if _, err := softhsm.Detect("/usr/lib/opensc-pkcs11.so", ""); !errors.Is(err, softhsm.ErrNotSoftHSM) {
		t.Fatalf("Detect of another library: %v", err)
	}
	good := filepath.Join(dir, "good.conf")
	os.WriteFile(good, []byte("directories.tokendir = /x/tokens\nobjectstore.backend = db\n"), 0o600)
	if l, err := softhsm.Detect("/usr/lib/softhsm/libsofthsm2.so", good); err != nil || l.TokenDir != "/x/tokens" || l.Files {
		t.Fatalf("Detect with SOFTHSM2_CONF: %+v %v", l, err)
	}
}

// What a kill -9 during SoftHSM's rewrite leaves is put back from the copy
// kept before login, and only from a verified copy.
func TestPreserveAndHeal(t *testing.T) {
	l := newTokens(t, "heal-me", "bystander")
	e := entry(t, l, "heal-me")
	obj := filepath.Join(e.Dir, softhsm.TokenObject)
	orig, _ := os.ReadFile(obj)

	// No copy yet: nothing to heal from, and the diagnosis names the file.
	os.WriteFile(obj, nil, 0o600)
	if h, err := softhsm.Heal(l.TokenDir); err != nil || len(h) != 0 {
		t.Fatalf("Heal without a copy: %v %v", h, err)
	}
	err := softhsm.Diagnose(l.TokenDir, "heal-me")
	var d *softhsm.DamageError
	if !errors.As(err, &d) || d.Dir != e.Dir || !errors.Is(err, softhsm.ErrEmpty) || !strings.Contains(err.Error(), "killed during that rewrite") {
		t.Fatalf("Diagnose: %v", err)
	}
	// A damaged file is never taken as the copy.
	if err := softhsm.Preserve(e.Dir); err == nil {
		t.Fatal("Preserve copied an empty token.object")
	}

	os.WriteFile(obj, orig, 0o600)
	if err := softhsm.Preserve(e.Dir); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(e.Dir, "token.object.muhr-good")
	st1, err := os.Stat(good)
	if err != nil || st1.Mode().Perm() != 0o600 {
		t.Fatalf("copy: %v %v", st1, err)
	}
	// A login bumps only the generation: the copy is not rewritten.
	bumped := append([]byte{}, orig...)
	bumped[7]++
	os.WriteFile(obj, bumped, 0o600)
	time.Sleep(10 * time.Millisecond)
	if err := softhsm.Preserve(e.Dir); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(good); !os.SameFile(st1, st2) {
		t.Fatal("copy rewritten for a generation change only")
	}

	for _, damage := range [][]byte{nil, bumped[:len(bumped)/2]} {
		os.WriteFile(obj, damage, 0o600)
		h, err := softhsm.Heal(l.TokenDir)
		if err != nil || len(h) != 1 || h[0].Label != "heal-me" || h[0].Dir != e.Dir {
			t.Fatalf("Heal of %d bytes: %+v %v", len(damage), h, err)
		}
		if got := entry(t, l, "heal-me"); got.Problem != nil {
			t.Fatalf("after Heal: %v", got.Problem)
		}
		if err := softhsm.Diagnose(l.TokenDir, "heal-me"); err != nil {
			t.Fatalf("Diagnose of a healed token: %v", err)
		}
	}
	// A missing token.object is healed too; an intact token is left alone.
	os.Remove(obj)
	if h, _ := softhsm.Heal(l.TokenDir); len(h) != 1 {
		t.Fatalf("Heal of a missing token.object: %+v", h)
	}
	if h, _ := softhsm.Heal(l.TokenDir); len(h) != 0 {
		t.Fatalf("Heal of intact tokens: %+v", h)
	}
}

func TestDiagnose(t *testing.T) {
	l := newTokens(t, "diag")
	if err := softhsm.Diagnose(l.TokenDir, "other-label"); err != nil {
		t.Fatalf("a wrong label is not damage: %v", err)
	}
	if err := softhsm.Diagnose(filepath.Join(l.TokenDir, "gone"), "diag"); !errors.Is(err, fs.ErrNotExist) ||
		!strings.Contains(err.Error(), "is missing") {
		t.Fatalf("missing token directory: %v", err)
	}
	e := entry(t, l, "diag")
	os.WriteFile(filepath.Join(e.Dir, softhsm.TokenObject), nil, 0o600)
	// Its label is unreadable now, but it is the only damaged token.
	err := softhsm.Diagnose(l.TokenDir, "diag")
	var d *softhsm.DamageError
	if !errors.As(err, &d) || !d.Guessed || d.Dir != e.Dir || !strings.Contains(err.Error(), "token.object is empty") {
		t.Fatalf("Diagnose: %v", err)
	}
}

func TestLock(t *testing.T) {
	l := newTokens(t)
	ctx := context.Background()
	a, err := softhsm.Acquire(ctx, l.TokenDir)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := softhsm.Acquire(short, l.TokenDir); !errors.Is(err, softhsm.ErrLockTimeout) {
		t.Fatalf("second holder: %v", err)
	}
	got := make(chan error, 1)
	go func() {
		b, err := softhsm.Acquire(ctx, l.TokenDir)
		b.Unlock()
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("acquired while held: %v", err)
	case <-time.After(30 * time.Millisecond):
	}
	a.Unlock()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(l.TokenDir, softhsm.LockName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v %v", fi, err)
	}
	// No token directory: nothing to protect, no error.
	n, err := softhsm.Acquire(ctx, filepath.Join(l.TokenDir, "nope"))
	if err != nil {
		t.Fatal(err)
	}
	n.Unlock()
}

func TestBackupVerifyRestore(t *testing.T) {
	l := newTokens(t, "keep-me", "another")
	ctx := context.Background()
	e := entry(t, l, "keep-me")
	out := filepath.Join(t.TempDir(), "backup", softhsm.BackupName(time.Now()))
	m, err := softhsm.Backup(ctx, l.TokenDir, "keep-me", out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Label != "keep-me" || m.Serial != e.Token.Serial || m.Dir != e.Name || len(m.Files) < 3 {
		t.Fatalf("manifest %+v", m)
	}
	if _, err := softhsm.Backup(ctx, l.TokenDir, "keep-me", out); err == nil {
		t.Fatal("backup over an existing directory")
	}
	for _, p := range []string{out, filepath.Join(out, e.Name)} {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s mode %v", p, fi.Mode().Perm())
		}
	}
	filepath.WalkDir(out, func(p string, d fs.DirEntry, _ error) error {
		if fi, _ := d.Info(); !d.IsDir() && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", p, fi.Mode().Perm())
		}
		return nil
	})
	if softhsm.Latest(filepath.Dir(out)) != out {
		t.Fatalf("Latest = %q", softhsm.Latest(filepath.Dir(out)))
	}

	// The token is lost (token.object emptied, no copy): restore brings it back.
	obj := filepath.Join(e.Dir, softhsm.TokenObject)
	orig, _ := os.ReadFile(obj)
	os.WriteFile(obj, nil, 0o600)
	aside := filepath.Join(t.TempDir(), "aside")
	res, err := softhsm.Restore(ctx, l.TokenDir, "keep-me", out, softhsm.RestoreOptions{Aside: aside})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(obj); string(got) != string(orig) || res.Replaced != aside {
		t.Fatalf("restored token.object differs (%d bytes), replaced %q", len(got), res.Replaced)
	}
	if b, err := os.ReadFile(filepath.Join(aside, softhsm.TokenObject)); err != nil || len(b) != 0 {
		t.Fatalf("the damaged state was not kept aside: %v", err)
	}
	// The whole token directory gone: restored as well.
	os.RemoveAll(e.Dir)
	if _, err := softhsm.Restore(ctx, l.TokenDir, "keep-me", out, softhsm.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if entry(t, l, "keep-me").Problem != nil {
		t.Fatal("restored token unreadable")
	}

	// Another label, unless told.
	if _, err := softhsm.Restore(ctx, l.TokenDir, "another", out, softhsm.RestoreOptions{Aside: aside + "2"}); !errors.Is(err, softhsm.ErrOtherToken) {
		t.Fatalf("restore of another label: %v", err)
	}
	// Another serial over an intact token, unless told.
	other := entry(t, l, "another")
	forged := filepath.Join(t.TempDir(), "forged")
	copyDir(t, out, forged)
	os.Rename(filepath.Join(forged, e.Name), filepath.Join(forged, other.Name))
	mb, _ := os.ReadFile(filepath.Join(forged, softhsm.ManifestName))
	os.WriteFile(filepath.Join(forged, softhsm.ManifestName), []byte(strings.ReplaceAll(string(mb), e.Name, other.Name)), 0o600)
	if _, err := softhsm.Verify(forged); err != nil {
		t.Fatal(err)
	}
	if _, err := softhsm.Restore(ctx, l.TokenDir, "keep-me", forged, softhsm.RestoreOptions{Aside: aside + "3"}); err == nil ||
		!strings.Contains(err.Error(), "already holds a token labelled") {
		// keep-me is intact elsewhere: SoftHSM would show two.
		t.Fatalf("restore making a second keep-me: %v", err)
	}
	if _, err := softhsm.Restore(ctx, l.TokenDir, "keep-me", forged, softhsm.RestoreOptions{OtherToken: true, Aside: aside + "3"}); err == nil {
		t.Fatal("restore making a second keep-me with OtherToken")
	}
	os.RemoveAll(e.Dir)
	if _, err := softhsm.Restore(ctx, l.TokenDir, "keep-me", forged, softhsm.RestoreOptions{Aside: aside + "4"}); !errors.Is(err, softhsm.ErrOtherToken) {
		t.Fatalf("restore over token %q of another serial: %v", "another", err)
	}
	if _, err := softhsm.Restore(ctx, l.TokenDir, "keep-me", forged, softhsm.RestoreOptions{OtherToken: true, Aside: aside + "4"}); err != nil {
		t.Fatalf("restore over another serial when told: %v", err)
	}
}

func TestVerifyRefusesTampering(t *testing.T) {
	l := newTokens(t, "tamper")
	e := entry(t, l, "tamper")
	ctx := context.Background()
	for name, tamper := range map[string]func(dir string){
		"changed byte": func(dir string) {
			p := filepath.Join(dir, e.Name, softhsm.TokenObject)
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 1
			os.WriteFile(p, b, 0o600)
		},
		"missing file": func(dir string) { os.Remove(filepath.Join(dir, e.Name, "generation")) },
		"extra file":   func(dir string) { os.WriteFile(filepath.Join(dir, e.Name, "x.object"), []byte("x"), 0o600) },
		"no manifest":  func(dir string) { os.Remove(filepath.Join(dir, softhsm.ManifestName)) },
		"bad dir name": func(dir string) {
			p := filepath.Join(dir, softhsm.ManifestName)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(b), `"token_dir": "`, `"token_dir": "../`, 1)), 0o600)
		},
	} {
		out := filepath.Join(t.TempDir(), "b")
		if _, err := softhsm.Backup(ctx, l.TokenDir, "tamper", out); err != nil {
			t.Fatal(err)
		}
		tamper(out)
		if _, err := softhsm.Verify(out); !errors.Is(err, softhsm.ErrBadBackup) {
			t.Errorf("%s: Verify = %v", name, err)
		}
		if _, err := softhsm.Restore(ctx, l.TokenDir, "tamper", out, softhsm.RestoreOptions{Aside: out + ".aside"}); !errors.Is(err, softhsm.ErrBadBackup) {
			t.Errorf("%s: Restore = %v", name, err)
		}
	}
	// A damaged token is not backed up: the backup would be worthless.
	os.WriteFile(filepath.Join(e.Dir, softhsm.TokenObject), nil, 0o600)
	if _, err := softhsm.Backup(ctx, l.TokenDir, "tamper", filepath.Join(t.TempDir(), "b")); err == nil || !strings.Contains(err.Error(), "restore it first") {
		t.Fatalf("backup of a damaged token: %v", err)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
