package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/server"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/sqlite"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

const bogusDB = "  driver: sqlite\n  path: /nonexistent-dir/sub/muhr.db\n"

// The ra role is built but off unless ra.enabled: asked for without it,
// muhrd refuses to start, naming the key, before anything is opened (the
// database and module here do not exist).
func TestRoleRAOffUnlessEnabled(t *testing.T) {
	code, stderr := runShort(t, "--config", writeConfig(t, bogusDB, tsaSection), "--roles", "tsa,ra")
	if code != exitUsage || !strings.Contains(stderr, "role ra: ra.enabled is false") {
		t.Errorf("--roles tsa,ra: exit %d:\n%s", code, stderr)
	}
	code, stderr = runShort(t, "--config", writeConfig(t, bogusDB, "roles: [repository, ra]\n"))
	if code != exitUsage || !strings.Contains(stderr, "role ra: ra.enabled is false") {
		t.Errorf("roles: in muhrd.yaml: exit %d:\n%s", code, stderr)
	}
}

func TestRoleRefusals(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--roles", "tsa,nope"}, `unknown role "nope"`},
		{[]string{"--roles", "tsa"}, "role tsa: tsa.enabled is false"},    // no tsa section
		{[]string{"--roles", "ocsp"}, "role ocsp: ocsp.enabled is false"}, // no ocsp section
	}
	for _, c := range cases {
		code, stderr := runShort(t, append([]string{"--config", writeConfig(t, bogusDB)}, c.args...)...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", c.args, code, c.want, stderr)
		}
	}
}

func TestDefaultRolesAndNeeds(t *testing.T) {
	table := roleTable()
	on := &config.Config{TSA: config.TSA{Enabled: true}}
	sel, err := selectRoles(table, nil, on)
	if err != nil || strings.Join(roleNames(sel), ",") != "tsa,repository" {
		t.Fatalf("default roles with the TSA on: %v %v", roleNames(sel), err)
	}
	signers, db := needs(sel)
	if !slices.Equal(signers, []string{store.SignerRoleTSA}) || db != dbWrite {
		t.Fatalf("tsa+repository need %v, %v", signers, db)
	}
	// With ocsp on too: the OCSP signers join and the database check
	// still downs (the TSA cannot work without the database).
	both := &config.Config{TSA: config.TSA{Enabled: true}, OCSP: config.OCSP{Enabled: true}}
	sel, err = selectRoles(table, nil, both)
	if err != nil || strings.Join(roleNames(sel), ",") != "ocsp,tsa,repository" {
		t.Fatalf("default roles with the TSA and OCSP on: %v %v", roleNames(sel), err)
	}
	if signers, _ := needs(sel); !slices.Equal(signers, []string{store.SignerRoleOCSP, store.SignerRoleTSA}) || dbOptional(sel) {
		t.Fatalf("ocsp+tsa+repository need %v, db optional %v", signers, dbOptional(sel))
	}
	// ocsp alone answers from its cache: a database failure degrades.
	sel, err = selectRoles(table, []string{"ocsp"}, both)
	if err != nil || !dbOptional(sel) {
		t.Fatalf("ocsp alone: %v, db optional %v", err, dbOptional(sel))
	}
	sel, err = selectRoles(table, nil, &config.Config{})
	if err != nil || strings.Join(roleNames(sel), ",") != "repository" {
		t.Fatalf("default roles with the TSA off: %v %v", roleNames(sel), err)
	}
	if signers, db := needs(sel); len(signers) != 0 || db != dbRead {
		t.Fatalf("repository needs %v, %v", signers, db)
	}
	// Every role names what it needs and where it serves.
	for _, r := range table {
		if r.db == dbNone || len(r.listeners) == 0 {
			t.Errorf("role %s: db %v, listeners %v", r.name, r.db, r.listeners)
		}
	}
}

// daemon runs muhrd with table until the test ends and returns the bound
// addresses.
type daemon struct {
	addrs  map[string]net.Addr
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan int
}

func startDaemon(t *testing.T, table []role, args ...string) *daemon {
	t.Helper()
	return startDaemonOwning(t, false, table, args...)
}

// startDaemonOwning is startDaemon as main runs it when ownsProcess is
// set: the runtime settings of muhrd.yaml are applied to this process.
func startDaemonOwning(t *testing.T, ownsProcess bool, table []role, args ...string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	ready := make(chan map[string]net.Addr, 1)
	go func() {
		d.done <- runWith(ctx, args, d.stderr, table, func(a map[string]net.Addr) { ready <- a }, ownsProcess)
	}()
	select {
	case d.addrs = <-ready:
	case code := <-d.done:
		t.Fatalf("muhrd exited %d:\n%s", code, d.stderr.String())
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatalf("muhrd did not start:\n%s", d.stderr.String())
	}
	t.Cleanup(func() { d.stop(t) })
	return d
}

// stop cancels muhrd (as SIGTERM does) and waits for a clean exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if d.done == nil {
		return
	}
	d.cancel()
	select {
	case code := <-d.done:
		if code != exitOK {
			t.Errorf("muhrd exited %d:\n%s", code, d.stderr.String())
		}
	case <-time.After(time.Minute):
		t.Errorf("muhrd did not stop:\n%s", d.stderr.String())
	}
	d.done = nil
}

func (d *daemon) url(listener, path string) string {
	return "http://" + d.addrs[listener].String() + path
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

func migratedSQLite(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "muhr.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return path
}

// The repository role signs nothing: muhrd does not log in to the token
// (the module here does not exist) and serves from the database. Metrics
// and detailed health are on the operations listener only.
func TestRepositoryRoleOpensNoToken(t *testing.T) {
	db := "  driver: sqlite\n  path: " + migratedSQLite(t) + "\n"
	d := startDaemon(t, roleTable(), "--config", writeConfig(t, db, tsaSection), "--roles", "repository")

	if code, body := get(t, d.url(server.ListenerPublic, "/healthz")); code != 200 || body != `{"status":"ok","db":"ok"}`+"\n" {
		t.Fatalf("public /healthz %d %s", code, body)
	}
	if code, body := get(t, d.url(server.ListenerPublic, "/ca/nope.crt")); code != 404 {
		t.Fatalf("/ca/nope.crt %d %s", code, body)
	}
	if code, _ := get(t, d.url(server.ListenerPublic, "/tsa/healthz")); code != 404 {
		t.Fatalf("TSA mounted without the tsa role: %d", code)
	}
	if code, _ := get(t, d.url(server.ListenerPublic, "/metrics")); code != 404 {
		t.Fatalf("public /metrics %d", code)
	}
	if code, body := get(t, d.url(server.ListenerOps, "/metrics")); code != 200 || !strings.Contains(body, `muhr_dependency_up{dependency="db"} 1`) {
		t.Fatalf("ops /metrics %d", code)
	}
	code, body := get(t, d.url(server.ListenerOps, "/healthz"))
	var rep server.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil || code != 200 || len(rep.Checks) != 1 || rep.Checks[0].Target != "read" {
		t.Fatalf("ops /healthz %d %s (%v)", code, body, err)
	}
	if s := d.stderr.String(); !strings.Contains(s, `"token":"(not opened: no role signs)"`) || strings.Contains(s, "libpkcs11") {
		t.Fatalf("start-up log:\n%s", s)
	}
}

// Shutdown order: the listeners stop accepting and drain the requests in
// flight before the services close, and the services close while the
// store is still open.
func TestShutdownOrder(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	var handlerDone, closed atomic.Bool
	closerSaw := make(chan string, 1)
	probe := role{name: "probe", db: dbWrite, listeners: []string{server.ListenerPublic},
		mount: func(_ context.Context, e *edge) error {
			e.srv.Public().HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
				close(started)
				<-release
				// Still in flight after the signal: the store and the
				// services must still be there.
				err := e.store.Ping(r.Context())
				fmt.Fprintf(w, "store=%v services=%v closed=%v", err, e.svc.Err(), closed.Load())
				handlerDone.Store(true)
			})
			e.onClose(func() {
				closed.Store(true)
				closerSaw <- fmt.Sprintf("handler_done=%v store=%v services=%v",
					handlerDone.Load(), e.store.Ping(context.Background()), e.svc.Err())
			})
			return nil
		}}
	db := "  driver: sqlite\n  path: " + filepath.Join(t.TempDir(), "m.db") + "\n"
	d := startDaemon(t, []role{probe}, "--config", writeConfig(t, db))

	reply := make(chan string, 1)
	go func() {
		_, body := get(t, d.url(server.ListenerPublic, "/slow"))
		reply <- body
	}()
	<-started
	d.cancel() // SIGTERM
	select {
	case s := <-closerSaw:
		t.Fatalf("services closed with a request in flight: %s", s)
	case code := <-d.done:
		t.Fatalf("muhrd exited %d with a request in flight", code)
	case <-time.After(300 * time.Millisecond):
	}
	if c, err := net.DialTimeout("tcp", d.addrs[server.ListenerPublic].String(), time.Second); err == nil {
		c.Close()
		t.Error("new connection accepted during shutdown")
	}
	close(release)
	if got := <-reply; got != "store=<nil> services=<nil> closed=false" {
		t.Fatalf("in-flight request saw %q", got)
	}
	if got := <-closerSaw; got != "handler_done=true store=<nil> services=context canceled" {
		t.Fatalf("closer saw %q", got)
	}
	d.stop(t)
}

// The happy path on the real parts: a TSA on SoftHSM2 and SQLite reports
// its key, its database write and its clock, and 1,000 concurrent probes
// all get 200.
func TestRealTSAHealthUnderThousandProbes(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "muhr.db")
	st, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	pki := tsatest.NewPKI(t, st)
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nops_listen: 127.0.0.1:0\nlog: {level: warn}\n"+
		"database: {driver: sqlite, path: %s}\nhsm: {module: %s, token_label: %s, pin_file: %s}\n%s",
		dbPath, pki.SoftHSM.Module, pki.SoftHSM.Label, pki.SoftHSM.PINFile, tsaSection)
	p := filepath.Join(t.TempDir(), "muhrd.yaml")
	writeFile(t, p, cfg)
	d := startDaemon(t, roleTable(), "--config", p)

	want := `{"status":"ok","db":"ok","hsm":"ok","tsa_clock":"ok"}` + "\n"
	if code, body := get(t, d.url(server.ListenerPublic, "/healthz")); code != 200 || body != want {
		t.Fatalf("/healthz %d %s", code, body)
	}
	_, body := get(t, d.url(server.ListenerOps, "/healthz"))
	var rep server.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, c := range rep.Checks {
		targets = append(targets, c.Name+":"+c.Target)
	}
	if strings.Join(targets, " ") != "db:write hsm:tsa-demo tsa_clock:tsa qca-demo" {
		t.Fatalf("checks %v", targets)
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}, Timeout: time.Minute}
	const n = 1000
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := map[string]int{}
	for range n {
		wg.Go(func() {
			res, err := client.Get(d.url(server.ListenerPublic, "/healthz"))
			key := ""
			if err != nil {
				key = err.Error()
			} else {
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					key = fmt.Sprintf("%d %s", res.StatusCode, b)
				}
			}
			if key != "" {
				mu.Lock()
				bad[key]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(bad) != 0 {
		t.Fatalf("of %d concurrent probes, failed: %v", n, bad)
	}
}
