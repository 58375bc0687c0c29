package testpki

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/hsm/softhsm"
)

// SoftHSMToken is a fresh SoftHSM2 token made for one test.
type SoftHSMToken struct {
	Module    string // path of libsofthsm2.so
	Label     string // token label, unique in this process
	PIN       []byte // user PIN
	SOPIN     []byte // security officer PIN
	PINFile   string // the user PIN, mode 0600
	SOPINFile string // the SO PIN, mode 0600
	Conf      string // the process's softhsm2.conf (SOFTHSM2_CONF)
}

// Config is the pkcs11.Config that opens this token.
func (s SoftHSMToken) Config(sessions int) pkcs11.Config {
	return pkcs11.Config{Module: s.Module, TokenLabel: s.Label, PIN: s.PIN, Sessions: sessions}
}

// TokenDir is SoftHSM2's directories.tokendir for this token's process.
func (s SoftHSMToken) TokenDir(t testing.TB) string {
	t.Helper()
	l, err := softhsm.LoadLayout(s.Conf)
	if err != nil {
		t.Fatal(err)
	}
	return l.TokenDir
}

// Dir is the directory under TokenDir that holds this token's files.
func (s SoftHSMToken) Dir(t testing.TB) string {
	t.Helper()
	es, err := softhsm.Scan(s.TokenDir(t))
	if err != nil {
		t.Fatal(err)
	}
	e, ok := softhsm.Find(es, s.Label)
	if !ok {
		t.Fatalf("testpki: no directory holds token %q", s.Label)
	}
	return e.Dir
}

// softHSMModules are where Debian/Ubuntu (and then others) put SoftHSM2.
var softHSMModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// SoftHSMModule returns the SoftHSM2 library: $MUHR_SOFTHSM_MODULE, else the
// first standard location that exists, else "".
func SoftHSMModule() string {
	if m := os.Getenv("MUHR_SOFTHSM_MODULE"); m != "" {
		return m
	}
	for _, m := range softHSMModules {
		if _, err := os.Stat(m); err == nil {
			return m
		}
	}
	return ""
}

// SoftHSM gives the test a new, uniquely labelled SoftHSM2 token with random
// PINs. SoftHSM2 reads SOFTHSM2_CONF once, at C_Initialize, and does not see
// tokens another process (softhsm2-util) creates after that; so every test
// process gets one token directory, made on the first call, and tokens are
// created in-process with C_InitToken on the free slot. A missing SoftHSM2 is
// reported through Missing (a failure under CI=true).
func SoftHSM(t testing.TB) SoftHSMToken {
	t.Helper()
	module := SoftHSMModule()
	if module == "" {
		Missing(t, "SoftHSM2 library not found (set MUHR_SOFTHSM_MODULE or apt-get install softhsm2)")
	}
	if _, err := os.Stat(module); err != nil {
		Missing(t, "SoftHSM2 library %s: %v", module, err)
	}
	conf, err := softHSMConf()
	if err != nil {
		t.Fatalf("testpki: SoftHSM2 token directory: %v", err)
	}
	tok := SoftHSMToken{
		Module: module,
		Label:  tokenLabel(t.Name()),
		PIN:    []byte(randomHex(8)),
		SOPIN:  []byte(randomHex(8)),
		Conf:   conf,
	}
	dir := t.TempDir()
	tok.PINFile = filepath.Join(dir, "user.pin")
	tok.SOPINFile = filepath.Join(dir, "so.pin")
	for path, pin := range map[string][]byte{tok.PINFile: tok.PIN, tok.SOPINFile: tok.SOPIN} {
		if err := os.WriteFile(path, append(append([]byte{}, pin...), '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := pkcs11.InitToken(module, tok.Label, tok.SOPIN, tok.PIN); err != nil {
		t.Fatalf("testpki: create SoftHSM2 token %q: %v", tok.Label, err)
	}
	return tok
}

// The one token directory of this test process (see SoftHSM).
var softHSMDir struct {
	once sync.Once
	conf string
	err  error
}

func softHSMConf() (string, error) {
	softHSMDir.once.Do(func() {
		sweepSoftHSMDirs()
		dir, err := os.MkdirTemp("", fmt.Sprintf("muhr-softhsm-%d-", os.Getpid()))
		if err != nil {
			softHSMDir.err = err
			return
		}
		tokens := filepath.Join(dir, "tokens")
		if err := os.Mkdir(tokens, 0o700); err != nil {
			softHSMDir.err = err
			return
		}
		conf := filepath.Join(dir, "softhsm2.conf")
		body := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			softHSMDir.err = err
			return
		}
		// Process-wide on purpose: the library reads it at C_Initialize.
		if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
			softHSMDir.err = err
			return
		}
		softHSMDir.conf = conf
	})
	return softHSMDir.conf, softHSMDir.err
}

// sweepSoftHSMDirs removes token directories left by test processes that
// have exited: a process cannot remove its own at exit without a TestMain.
func sweepSoftHSMDirs() {
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), "muhr-softhsm-*-*"))
	for _, d := range old {
		parts := strings.SplitN(filepath.Base(d), "-", 4)
		if len(parts) < 4 {
			continue
		}
		pid, err := strconv.Atoi(parts[2])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			_ = os.RemoveAll(d)
		}
	}
}

var unsafeLabel = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// tokenLabel is unique and still says which test made it (32 bytes at most).
func tokenLabel(testName string) string {
	suffix := "-" + randomHex(4)
	name := unsafeLabel.ReplaceAllString(testName, "_")
	if max := 32 - len(suffix); len(name) > max {
		name = name[len(name)-max:]
	}
	return name + suffix
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
