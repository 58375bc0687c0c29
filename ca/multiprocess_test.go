package ca_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/postgres"
	"github.com/muhr-pki/muhr/store/sqlite"
)

// workerEnv names the file that turns the test binary into an issuing
// worker process (see issueWorker).
const workerEnv = "MUHR_TEST_ISSUE_WORKER"

func TestMain(m *testing.M) {
	if path := os.Getenv(workerEnv); path != "" {
		os.Exit(issueWorker(path))
	}
	os.Exit(m.Run())
}

// workerJob is what one worker process is told to do.
type workerJob struct {
	Backend  string        // sqlite or postgres
	DB       string        // SQLite path or PostgreSQL DSN
	Module   string        // SoftHSM2 library
	Token    string        // token label
	PINFile  string        // user PIN
	LockFile string        // serialises token logins across the workers
	CA       string        // issuing CA
	Prefix   string        // request id prefix
	Count    int           // requests to issue
	Lease    time.Duration // issuer lease
	// Hang makes the worker stop after its first signature, before
	// storing, print "PENDING <serial>" and wait to be killed.
	Hang bool
}

// workerReport is the worker's last line on stdout.
type workerReport struct {
	Issued  []string // serials, hex
	Failed  []string // errors
	Elapsed time.Duration
}

// issueWorker is one issuing process: its own store connection, one token
// login, one ca.Issuer, Count requests.
func issueWorker(path string) int {
	rep, err := runWorker(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		return 2
	}
	return 0
}

func runWorker(path string) (*workerReport, error) {
	ctx := context.Background()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var job workerJob
	if err := json.Unmarshal(b, &job); err != nil {
		return nil, err
	}
	var st store.Store
	switch job.Backend {
	case "sqlite":
		st, err = sqlite.Open(ctx, job.DB)
	default:
		st, err = postgres.Open(ctx, job.DB)
	}
	if err != nil {
		return nil, err
	}
	defer st.Close()
	pin, err := os.ReadFile(job.PINFile)
	if err != nil {
		return nil, err
	}
	var keys *pkcs11.Token
	err = withFileLock(job.LockFile, func() error {
		keys, err = pkcs11.Open(ctx, pkcs11.Config{Module: job.Module, TokenLabel: job.Token,
			PIN: []byte(strings.TrimSpace(string(pin))), Sessions: 2})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open token: %w", err)
	}
	defer withFileLock(job.LockFile, func() error { return keys.Close() })
	o := ca.IssuerOptions{CAID: job.CA, Store: st, Keys: keys, Settings: settings(), Lease: job.Lease}
	if job.Hang {
		ca.SetFailpoint(&o, func(s ca.Stage) error {
			if s == ca.StageSigned {
				fmt.Println("PENDING")
				select {}
			}
			return nil
		})
	}
	iss, err := ca.NewIssuer(ctx, o)
	if err != nil {
		return nil, err
	}
	defer iss.Close()
	var t workerT
	rep := &workerReport{}
	start := time.Now()
	for k := range job.Count {
		req := ca.Request{ID: fmt.Sprintf("%s-%d", job.Prefix, k), Profile: "qes-person", CSR: csrFor(&t, newKey(&t), nil),
			Identity: identity(&t, personJSON), Actor: "worker"}
		cert, err := iss.IssueRequest(ctx, req)
		if err != nil {
			rep.Failed = append(rep.Failed, err.Error())
			continue
		}
		rep.Issued = append(rep.Issued, cert.SerialNumber.Text(16))
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// workerT lets the test helpers run in a worker, where there is no
// *testing.T: a Fatal ends the worker, which then reports nothing.
type workerT struct{ testing.TB }

func (w *workerT) Helper()           {}
func (w *workerT) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

// noTokenLockEnv, when set, lets the workers log in all at once, to check a
// fix of the token race (without one, workers fail with "token not found").
const noTokenLockEnv = "MUHR_TEST_NO_TOKEN_LOCK"

// withFileLock runs fn holding an exclusive flock on path. SoftHSM2 2.6
// rewrites the token file at every login without locking it against other
// processes, so concurrent logins can read a half-written file (issue 8
// part 2 fixes that in the HSM layer); the workers take turns to log in.
func withFileLock(path string, fn func() error) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if os.Getenv(noTokenLockEnv) != "" {
		return fn()
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return fn()
}

// sharedCenter is a center whose database other processes can open.
type sharedCenter struct {
	*center
	backend, db string
}

func newSharedCenter(t *testing.T, backend string) *sharedCenter {
	t.Helper()
	ctx := context.Background()
	var st store.Store
	var db string
	var err error
	switch backend {
	case "sqlite":
		db = filepath.Join(t.TempDir(), "muhr.db")
		st, err = sqlite.Open(ctx, db)
	default:
		db = testpki.PostgresDSN(t)
		st, err = postgres.Open(ctx, db)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &sharedCenter{center: newCenterOn(t, st, nil), backend: backend, db: db}
}

// start runs a worker process for job; its stdout is returned as lines.
func (c *sharedCenter) start(t *testing.T, job workerJob) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	job.Backend, job.DB, job.Module, job.Token, job.PINFile = c.backend, c.db, c.tok.Module, c.tok.Label, c.tok.PINFile
	job.LockFile = filepath.Join(c.dir, "token.lock")
	if job.CA == "" {
		job.CA = "qca-demo"
	}
	b, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(c.dir, job.Prefix+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+path)
	cmd.Stderr = &prefixWriter{t: t, prefix: job.Prefix}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return cmd, sc
}

// prefixWriter passes a worker's stderr to the test log.
type prefixWriter struct {
	t      *testing.T
	prefix string
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s: %s", w.prefix, strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// The acceptance test of issue 8 part 1: 8 issuing processes at once, each
// with its own store connection, token login and ca.Issuer, 40 requests
// each: every request is issued, no intent is abandoned, the audit chain
// holds.
func TestConcurrentIssuingProcesses(t *testing.T) {
	const workers, perWorker = 8, 40
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			c := newSharedCenter(t, backend)
			reports := make([]workerReport, workers)
			var wg sync.WaitGroup
			for w := range workers {
				_, out := c.start(t, workerJob{Prefix: fmt.Sprintf("w%d", w), Count: perWorker})
				wg.Add(1)
				go func() {
					defer wg.Done()
					var last string
					for out.Scan() {
						last = out.Text()
					}
					if err := json.Unmarshal([]byte(last), &reports[w]); err != nil {
						t.Errorf("worker %d: no report (%q): %v", w, last, err)
					}
				}()
			}
			wg.Wait()
			serials := map[string]bool{}
			failed := 0
			for w, r := range reports {
				failed += len(r.Failed)
				for _, f := range r.Failed {
					t.Errorf("worker %d: %s", w, f)
				}
				for _, s := range r.Issued {
					serials[s] = true
				}
				t.Logf("worker %d: %d issued, %d failed in %v", w, len(r.Issued), len(r.Failed), r.Elapsed.Round(time.Millisecond))
			}
			if failed != 0 || len(serials) != workers*perWorker {
				t.Fatalf("%d failures, %d distinct certificates; want 0 and %d", failed, len(serials), workers*perWorker)
			}
			for s := range serials {
				n, ok := new(big.Int).SetString(s, 16)
				if !ok {
					t.Fatalf("serial %q", s)
				}
				if _, err := c.st.GetCertificate(ctx, "qca-demo", n); err != nil {
					t.Fatalf("certificate %s: %v", s, err)
				}
			}
			if n := abandons(t, c.st); n != 0 {
				t.Fatalf("%d issuance.abandon records, want 0", n)
			}
			if in, err := c.st.PendingIntents(ctx); err != nil || len(in) != 0 {
				t.Fatalf("pending intents left: %v, %v", in, err)
			}
			rep, err := audit.Verify(ctx, c.st)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("audit chain verified: %d records", rep.Records)
		})
	}
}

// A worker killed with an intent pending: once its lease has run out,
// another process's recovery abandons it, with one audit record; a live
// worker's pending intent is never abandoned.
func TestKilledIssuerRecoveredByAnotherProcess(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			c := newSharedCenter(t, backend)
			waitPending := func(out *bufio.Scanner, who string) {
				t.Helper()
				for out.Scan() {
					if out.Text() == "PENDING" {
						return
					}
				}
				t.Fatalf("worker %s ended without a pending intent", who)
			}
			killed, killedOut := c.start(t, workerJob{Prefix: "killed", Count: 1, Hang: true, Lease: 2 * time.Second})
			waitPending(killedOut, "killed")
			// The live worker's lease is long, so that it cannot run out
			// on a loaded machine while the test waits.
			_, liveOut := c.start(t, workerJob{Prefix: "live", Count: 1, Hang: true, Lease: 10 * time.Minute})
			waitPending(liveOut, "live")
			if err := killed.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = killed.Wait()

			rec := c.issuer(t, "qca-demo", c.keys, nil)
			deadline := time.Now().Add(2 * time.Minute)
			for abandons(t, c.st) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the killed worker's intent was not abandoned")
				}
				time.Sleep(200 * time.Millisecond)
				if _, err := rec.Recover(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for range 3 {
				if _, err := rec.Recover(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if n := abandons(t, c.st); n != 1 {
				t.Fatalf("%d abandon records, want 1", n)
			}
			if _, err := c.st.LiveIntent(ctx, "killed-0"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("killed worker's intent: %v", err)
			}
			in, err := c.st.LiveIntent(ctx, "live-0")
			if err != nil || in.State != store.IntentPending {
				t.Fatalf("live worker's intent = %+v, %v; want pending", in, err)
			}
			// The killed worker's request issues again at once.
			if _, err := rec.IssueRequest(ctx, personRequest(t, "killed-0")); err != nil {
				t.Fatal(err)
			}
			if _, err := audit.Verify(ctx, c.st); err != nil {
				t.Fatal(err)
			}
		})
	}
}
