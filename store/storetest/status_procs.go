package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/store"
)

// statusWorkerEnv holds the job (JSON) of a re-executed test binary that
// revokes certificates in its own process (see statusWorker).
const statusWorkerEnv = "MUHR_STORETEST_STATUS_WORKER"

type statusJob struct {
	Loc     string
	Issuer  string
	Serials []string // hex, tried in this order
}

type statusReport struct {
	Won, Lost []string // serials revoked here; refused with ErrCertRevoked
	Other     []string // any other error
}

// statusWorker revokes each serial of the job in its own transaction, which
// stays open a random moment after the change (so commits interleave with
// other processes' in every order), and prints what happened.
func statusWorker(b Backend, raw string) int {
	var job statusJob
	if err := json.Unmarshal([]byte(raw), &job); err != nil {
		fmt.Fprintln(os.Stderr, "status worker:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := b.Open(ctx, job.Loc, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "status worker:", err)
		return 2
	}
	defer s.Close()
	var rep statusReport
	for _, h := range job.Serials {
		serial, _ := new(big.Int).SetString(h, 16)
		err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			if _, err := tx.RevokeCertificate(ctx, store.Revocation{IssuerID: job.Issuer, Serial: serial,
				Reason: store.ReasonKeyCompromise, At: time.Now()}); err != nil {
				return err
			}
			time.Sleep(time.Duration(mrand.IntN(3000)) * time.Microsecond)
			return nil
		})
		switch {
		case err == nil:
			rep.Won = append(rep.Won, h)
		case errors.Is(err, store.ErrCertRevoked):
			rep.Lost = append(rep.Lost, h)
		default:
			rep.Other = append(rep.Other, h+": "+err.Error())
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		return 2
	}
	return 0
}

// Several processes revoke the same certificates at once while this one
// polls the feed: each certificate is revoked by exactly one process (the
// others get ErrCertRevoked), and the poller, remembering only the last
// sequence number it read, sees every change exactly once, in strictly
// increasing order, though transactions commit in any order.
func testStatusFeedProcesses(t *testing.T, b Backend) {
	loc := b.Fresh(t)
	s := openAt(t, b, loc, nil)
	if err := s.Migrate(ctx(t)); err != nil {
		t.Fatal(err)
	}
	addCA(t, s, "ca-a")
	const procs, certs = 4, 40
	var all []string
	for range certs {
		all = append(all, issue(t, s, "ca-a", randSerial(t)).Serial.Text(16))
	}

	var wg sync.WaitGroup
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	for i := range procs {
		order := append([]string(nil), all...)
		mrand.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		job, _ := json.Marshal(statusJob{Loc: loc, Issuer: "ca-a", Serials: order})
		cmd := exec.CommandContext(ctx(t), os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), statusWorkerEnv+"="+string(job))
		cmd.Stderr = os.Stderr
		wg.Go(func() { outs[i], errs[i] = cmd.Output() })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	seen := map[string]int64{}
	var last int64
	poll := func() {
		for {
			page, err := s.StatusChangesAfter(ctx(t), last, 7)
			if err != nil {
				t.Fatalf("StatusChangesAfter: %v", err)
			}
			for _, ch := range page {
				if ch.Seq <= last {
					t.Fatalf("feed gave seq %d after %d", ch.Seq, last)
				}
				last = ch.Seq
				h := ch.Serial.Text(16)
				if prev, ok := seen[h]; ok {
					t.Errorf("certificate %s changed twice (seq %d and %d)", h, prev, ch.Seq)
				}
				seen[h] = ch.Seq
			}
			if len(page) < 7 {
				return
			}
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(2 * time.Millisecond):
		}
		poll()
	}
	poll()

	won := map[string]int{}
	for i := range procs {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i, errs[i])
		}
		var rep statusReport
		if err := json.Unmarshal(outs[i], &rep); err != nil {
			t.Fatalf("worker %d printed %q: %v", i, outs[i], err)
		}
		if len(rep.Other) > 0 {
			t.Errorf("worker %d: unexpected errors: %v", i, rep.Other)
		}
		if len(rep.Won)+len(rep.Lost) != certs {
			t.Errorf("worker %d: %d won + %d lost, want %d", i, len(rep.Won), len(rep.Lost), certs)
		}
		for _, h := range rep.Won {
			won[h]++
		}
	}
	for _, h := range all {
		if won[h] != 1 {
			t.Errorf("certificate %s revoked by %d processes, want exactly 1", h, won[h])
		}
		if _, ok := seen[h]; !ok {
			t.Errorf("the poller never saw the revocation of %s", h)
		}
	}
	if full := feed(t, s); len(full) != certs || len(seen) != certs {
		t.Errorf("feed holds %d changes, the poller saw %d, want %d", len(full), len(seen), certs)
	}
	t.Logf("%d processes, %d certificates, last seq %d", procs, certs, last)
}
