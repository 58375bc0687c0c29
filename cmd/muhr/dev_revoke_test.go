package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/internal/center"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/store"
)

// cliEnv turns the test binary into the muhr command line: its value is
// the arguments, one per line (see runProcess).
const cliEnv = "MUHR_TEST_CLI_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(cliEnv); args != "" {
		cmd := newRootCmd()
		cmd.SetArgs(strings.Split(args, "\n"))
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			code, msg := exitFor(err)
			fmt.Fprintln(os.Stderr, msg)
			os.Exit(code)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runProcess runs muhr in a process of its own.
func runProcess(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), cliEnv+"="+strings.Join(args, "\n"))
	return cmd
}

func certStatus(t *testing.T, cfgPath string, leaf *x509.Certificate) store.Certificate {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := center.OpenStore(t.Context(), cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.GetCertificate(t.Context(), "qca-demo", leaf.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantExit(t *testing.T, what string, err error, code int, text string) {
	t.Helper()
	got, msg := exitFor(err)
	if err == nil || got != code || !strings.Contains(msg, text) {
		t.Fatalf("%s: exit %d %q, want exit %d with %q", what, got, msg, code, text)
	}
	t.Logf("%s: exit %d: %s", what, got, msg)
}

func TestDevRevokeSuspendResume(t *testing.T) {
	dir, cfg := testCenter(t)
	c := buildCenter(t, dir, cfg)
	a, b, d := c.leaves[0], c.leaves[1], c.leaves[2]
	hexA := fmt.Sprintf("%X", a.SerialNumber) // upper case, as openssl prints it

	out, err := run(t, "dev", "revoke", hexA, "--reason", "keyCompromise", "--compromise-time", "2026-01-02T03:04:05Z", "--config", cfg)
	if err != nil || !strings.Contains(out, "revoked: certificate") || !strings.Contains(out, "(keyCompromise)") ||
		!strings.Contains(out, "invalid since 2026-01-02T03:04:05Z") {
		t.Fatalf("dev revoke: %v\n%s", err, out)
	}
	if got := certStatus(t, cfg, a); got.Status != store.CertStatusRevoked || *got.RevocationReason != store.ReasonKeyCompromise {
		t.Fatalf("after revoke: %+v", got)
	}
	_, err = run(t, "dev", "revoke", hexA, "--reason", "superseded", "--config", cfg)
	wantExit(t, "revoke twice", err, exitConflict, "already revoked")
	_, err = run(t, "dev", "resume", hexA, "--config", cfg)
	wantExit(t, "resume revoked", err, exitConflict, "a revocation is final")
	_, err = run(t, "dev", "revoke", "1f2e3d", "--reason", "superseded", "--config", cfg)
	wantExit(t, "unknown serial", err, exitNotFound, "no CA of this center issued serial 1f2e3d")
	_, err = run(t, "dev", "revoke", "1f2e3d", "--reason", "superseded", "--ca", "qca-demo", "--config", cfg)
	wantExit(t, "unknown serial under a CA", err, exitNotFound, "no such certificate")
	_, err = run(t, "dev", "revoke", b.SerialNumber.Text(16), "--reason", "certificateHold", "--config", cfg)
	wantExit(t, "hold as a reason", err, exitInvalid, "not one of")
	_, err = run(t, "dev", "revoke", "xyz", "--reason", "superseded", "--config", cfg)
	wantExit(t, "bad serial", err, exitInvalid, "positive hex number")
	_, err = run(t, "dev", "revoke", b.SerialNumber.Text(16), "--config", cfg)
	wantExit(t, "no reason", err, exitInvalid, "--reason is required")
	_, err = run(t, "dev", "revoke", b.SerialNumber.Text(16), "--reason", "superseded", "--compromise-time", "yesterday", "--config", cfg)
	wantExit(t, "bad compromise time", err, exitInvalid, "RFC 3339")
	_, err = run(t, "dev", "revoke", b.SerialNumber.Text(16), "--reason", "superseded", "--ca", "nope", "--config", cfg)
	wantExit(t, "unknown CA", err, exitNotFound, "no such CA")
	if got := certStatus(t, cfg, b); got.Status != store.CertStatusValid {
		t.Fatalf("refusals changed %x: %s", b.SerialNumber, got.Status)
	}

	out, err = run(t, "dev", "suspend", b.SerialNumber.Text(16), "--config", cfg)
	if err != nil || !strings.Contains(out, "suspended: ") || !strings.Contains(out, "is hold") {
		t.Fatalf("dev suspend: %v\n%s", err, out)
	}
	_, err = run(t, "dev", "suspend", b.SerialNumber.Text(16), "--config", cfg)
	wantExit(t, "suspend twice", err, exitConflict, "already on hold")
	out, err = run(t, "dev", "resume", b.SerialNumber.Text(16), "--config", cfg)
	if err != nil || !strings.Contains(out, "resumed: ") || !strings.Contains(out, "is valid") {
		t.Fatalf("dev resume: %v\n%s", err, out)
	}
	_, err = run(t, "dev", "resume", b.SerialNumber.Text(16), "--config", cfg)
	wantExit(t, "resume twice", err, exitConflict, "not on hold")

	// Suspended, then revoked: the audit chain and the table still agree.
	if _, err := run(t, "dev", "suspend", d.SerialNumber.Text(16), "--config", cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "dev", "revoke", d.SerialNumber.Text(16), "--reason", "cessationOfOperation", "--config", cfg); err != nil {
		t.Fatal(err)
	}
	out, _, err = verify(t, cfg)
	if err != nil || !strings.Contains(out, "audit chain OK") {
		t.Fatalf("audit verify after status changes: %v\n%s", err, out)
	}
	if !strings.Contains(out, "5 status changes") {
		t.Errorf("audit verify does not count the 5 status changes:\n%s", out)
	}
}

func TestDevRevokeBatch(t *testing.T) {
	dir, cfg := testCenter(t)
	c := buildCenter(t, dir, cfg)
	a, b, d := c.leaves[0], c.leaves[1], c.leaves[2]
	if _, err := run(t, "dev", "revoke", a.SerialNumber.Text(16), "--reason", "superseded", "--config", cfg); err != nil {
		t.Fatal(err)
	}
	write := func(body string) string {
		p := filepath.Join(dir, "batch.csv")
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	// A file with a bad line is refused whole: nothing is revoked.
	bad := write("serial,reason\n" + b.SerialNumber.Text(16) + ",keyCompromise\n" + d.SerialNumber.Text(16) + ",stolen\nzz,superseded\n")
	_, err := run(t, "dev", "revoke", "--batch", bad, "--config", cfg)
	wantExit(t, "bad batch", err, exitInvalid, "nothing was revoked")
	for _, line := range []string{"line 3:", "line 4:"} {
		if !strings.Contains(err.Error(), line) {
			t.Errorf("bad batch error does not name %s: %v", line, err)
		}
	}
	if got := certStatus(t, cfg, b); got.Status != store.CertStatusValid {
		t.Fatalf("a refused batch revoked %x", b.SerialNumber)
	}

	// Each line on its own: the good ones are revoked, the others reported.
	good := write("# incident 42\nserial,reason,compromise-time\n" +
		b.SerialNumber.Text(16) + ",keyCompromise,2026-01-02T03:04:05Z\n" +
		a.SerialNumber.Text(16) + ",keyCompromise\n" +
		"abcdef,superseded\n" +
		d.SerialNumber.Text(16) + ", privilegeWithdrawn\n")
	out, err := run(t, "dev", "revoke", "--batch", good, "--config", cfg)
	wantExit(t, "batch with failing lines", err, exitConflict, "2 of 4 lines failed (first: line 4")
	for _, want := range []string{
		fmt.Sprintf("line 3: %x: revoked: ", b.SerialNumber),
		fmt.Sprintf("line 4: %x: FAILED: revoker: certificate is already revoked", a.SerialNumber),
		"line 5: abcdef: FAILED: ",
		fmt.Sprintf("line 6: %x: revoked: ", d.SerialNumber),
		"2 revoked, 2 failed, of 4 lines",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("batch report lacks %q:\n%s", want, out)
		}
	}
	if got := certStatus(t, cfg, b); got.Status != store.CertStatusRevoked || got.InvalidityDate == nil {
		t.Errorf("line 3: %+v", got)
	}
	if got := certStatus(t, cfg, d); got.Status != store.CertStatusRevoked || *got.RevocationReason != int(ca.ReasonPrivilegeWithdrawn) {
		t.Errorf("line 6: %+v", got)
	}
	if out, _, err := verify(t, cfg); err != nil {
		t.Fatalf("audit verify after the batch: %v\n%s", err, out)
	}
}

// Several muhr processes revoke one certificate at once, then suspend
// another: exactly one succeeds each time, the others exit with the
// conflict code and say why; on SQLite and on PostgreSQL.
func TestDevRevokeProcessesOneWins(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dir, cfg := testCenter(t)
			if backend == "postgres" {
				body, err := os.ReadFile(cfg)
				if err != nil {
					t.Fatal(err)
				}
				pg := strings.Replace(string(body), "  driver: sqlite\n  path: muhr.db\n",
					"  driver: postgres\n  dsn: '"+testpki.PostgresDSN(t)+"'\n", 1)
				if pg == string(body) {
					t.Fatal("testCenter's config no longer names SQLite as expected")
				}
				os.WriteFile(cfg, []byte(pg), 0o600)
			}
			c := buildCenter(t, dir, cfg)
			race(t, exitConflict, "already revoked", "dev", "revoke", c.leaves[0].SerialNumber.Text(16), "--reason", "keyCompromise", "--config", cfg)
			race(t, exitConflict, "already on hold", "dev", "suspend", c.leaves[1].SerialNumber.Text(16), "--config", cfg)
			if out, _, err := verify(t, cfg); err != nil || !strings.Contains(out, "(2 status changes)") {
				t.Fatalf("audit verify: %v\n%s", err, out)
			}
		})
	}
}

// race runs the same muhr command in n processes at once and wants exactly
// one to succeed and the others to exit with code, saying text.
func race(t *testing.T, code int, text string, args ...string) {
	t.Helper()
	const n = 4
	codes := make([]int, n)
	outs := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		cmd := runProcess(t, args...)
		wg.Go(func() {
			var err error
			outs[i], err = cmd.CombinedOutput()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				codes[i] = ee.ExitCode()
			} else if err != nil {
				codes[i] = -1
			}
		})
	}
	wg.Wait()
	wins := 0
	for i := range n {
		switch {
		case codes[i] == 0:
			wins++
		case codes[i] == code && strings.Contains(string(outs[i]), text):
		default:
			t.Errorf("%s: process %d exited %d: %s", args[1], i, codes[i], outs[i])
		}
	}
	if wins != 1 {
		t.Fatalf("%s: %d processes succeeded, want 1", args[1], wins)
	}
}
