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

// Several muhr processes revoke one certificate at once: exactly one
// succeeds, the others exit with the conflict code and say why.
func TestDevRevokeProcessesOneWins(t *testing.T) {
	dir, cfg := testCenter(t)
	c := buildCenter(t, dir, cfg)
	serial := c.leaves[0].SerialNumber.Text(16)
	const n = 4
	codes := make([]int, n)
	outs := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		cmd := runProcess(t, "dev", "revoke", serial, "--reason", "keyCompromise", "--config", cfg)
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
		switch codes[i] {
		case 0:
			wins++
		case exitConflict:
			if !strings.Contains(string(outs[i]), "already revoked") {
				t.Errorf("process %d: %s", i, outs[i])
			}
		default:
			t.Errorf("process %d exited %d: %s", i, codes[i], outs[i])
		}
	}
	if wins != 1 {
		t.Fatalf("%d processes revoked the certificate, want 1", wins)
	}
	if out, _, err := verify(t, cfg); err != nil || !strings.Contains(out, "1 status change") {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
}
