package api_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/ra"
	"github.com/muhr-pki/muhr/ra/api"
	"github.com/muhr-pki/muhr/ra/ratest"
	"github.com/muhr-pki/muhr/store"
)

// env is a center and its officer API over real mTLS.
type env struct {
	c      *ratest.Center
	srv    *httptest.Server
	caPool *x509.CertPool // trusts the test server certificate
}

func selfSigned(t *testing.T, eku x509.ExtKeyUsage, cn string, ip bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{eku},
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true}
	if ip {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func newEnv(t *testing.T, backend string) *env {
	t.Helper()
	c := ratest.New(t, backend, nil)
	return serve(t, c, c.Service)
}

func serve(t *testing.T, c *ratest.Center, svc *ra.Service) *env {
	t.Helper()
	server := selfSigned(t, x509.ExtKeyUsageServerAuth, "officer api test", true)
	cfg, err := api.TLSConfig(api.TLSOptions{Certificate: server, ClientCAs: c.MgmtPool, Refused: func(cert *x509.Certificate, remote, reason string) {
		if err := svc.Refused(context.Background(), cert, remote, reason); err != nil {
			t.Errorf("audit refusal: %v", err)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(api.New(svc, nil))
	srv.TLS = cfg
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(server.Leaf)
	return &env{c: c, srv: srv, caPool: pool}
}

func (e *env) client(cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: e.caPool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		// Sent whatever CAs the server names, as openssl s_client would:
		// a certificate of another CA must reach the server to be refused.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, MaxConnsPerHost: 64}}
}

type reply struct {
	code int
	body []byte
}

func (r reply) errField(t *testing.T) (kind, field, state, msg string) {
	t.Helper()
	var e struct {
		Error struct{ Kind, Field, State, Message string }
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	return e.Error.Kind, e.Error.Field, e.Error.State, e.Error.Message
}

func (e *env) do(t *testing.T, cl *http.Client, method, path string, body any) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+api.Prefix+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, b}
}

func decodeInto(t *testing.T, r reply, code int, v any) {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d: %s", r.code, code, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%s: %v", r.body, err)
	}
}

func auditActions(t *testing.T, st store.Store, action string) []store.AuditRecord {
	t.Helper()
	var out []store.AuditRecord
	recs, err := st.AuditRecords(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

// TestTLSRefusals: no client certificate, or one from another CA, fails
// the handshake and is audited as officer.refused.
func TestTLSRefusals(t *testing.T) {
	e := newEnv(t, "sqlite")
	for name, cert := range map[string]*tls.Certificate{
		"no certificate": nil,
		"another CA":     ptr(selfSigned(t, x509.ExtKeyUsageClientAuth, "intruder", false)),
	} {
		req, _ := http.NewRequest("GET", e.srv.URL+api.Prefix+"/whoami", nil)
		resp, err := e.client(cert).Do(req)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: status %d, want a TLS refusal", name, resp.StatusCode)
		}
	}
	recs := auditActions(t, e.c.Store, "officer.refused")
	var reasons []string
	for _, r := range recs {
		reasons = append(reasons, string(r.Details))
	}
	if len(recs) != 2 || !strings.Contains(strings.Join(reasons, " "), "no client certificate") ||
		!strings.Contains(strings.Join(reasons, " "), "management CA") {
		t.Fatalf("refusals audited: %v", reasons)
	}
}

func ptr[T any](v T) *T { return &v }

// TestDeactivatedOfficer: refused at the next request, and audited.
func TestDeactivatedOfficer(t *testing.T) {
	e := newEnv(t, "sqlite")
	admin, adminCert := e.c.Officer(t, "admin", "admin")
	reg, regCert := e.c.Officer(t, "registrar1", "registrar")
	regCl := e.client(&regCert)
	var who ra.Officer
	decodeInto(t, e.do(t, regCl, "GET", "/whoami", nil), 200, &who)
	if who.Name != "registrar1" || who.Roles[0] != "registrar" {
		t.Fatalf("whoami = %+v", who)
	}
	var o ra.Officer
	decodeInto(t, e.do(t, e.client(&adminCert), "POST", "/officers/"+reg.ID+"/deactivate", nil), 200, &o)
	if o.Active {
		t.Fatalf("deactivated officer is active: %+v", o)
	}
	// The same connection, the very next request.
	r := e.do(t, regCl, "GET", "/whoami", nil)
	if k, _, _, msg := r.errField(t); r.code != 403 || k != "forbidden" || !strings.Contains(msg, "deactivated") {
		t.Fatalf("deactivated officer: %d %s", r.code, r.body)
	}
	recs := auditActions(t, e.c.Store, "officer.refused")
	if len(recs) != 1 || !strings.Contains(string(recs[0].Details), "deactivated") {
		t.Fatalf("refusal audit: %+v", recs)
	}
	_ = admin
}

// cell is one call of the role × action table.
type cell struct {
	action ra.Action
	method string
	path   string
	body   any
}

// TestRoleTable: every cell of the table, each role on its own.
func TestRoleTable(t *testing.T) {
	e := newEnv(t, "sqlite")
	ctx := context.Background()
	submitter, _ := e.c.Officer(t, "submitter", "registrar")
	approver, _ := e.c.Officer(t, "approver0", "approver")
	target, _ := e.c.Officer(t, "target", "auditor")
	sub, err := e.c.Service.RegisterSubscriber(ctx, submitter, ratest.Person("823456789012"))
	if err != nil {
		t.Fatal(err)
	}
	submit := func() ra.Request {
		r, err := e.c.Service.Submit(ctx, submitter, ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t))})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	toApprove, toReject, issued := submit(), submit(), submit()
	done, err := e.c.Service.Approve(ctx, approver, issued.ID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	cells := func() []cell {
		n++
		return []cell{
			{ra.ActWhoami, "GET", "/whoami", nil},
			{ra.ActSubscriberRegister, "POST", "/subscribers", ratest.Person(fmt.Sprintf("9%011d", n))},
			{ra.ActSubscriberRead, "GET", "/subscribers/" + sub.ID, nil},
			{ra.ActSubscriberRead, "GET", "/subscribers?q=Раҳимов", nil},
			{ra.ActRequestSubmit, "POST", "/requests", ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t))}},
			{ra.ActRequestRead, "GET", "/requests/" + toApprove.ID, nil},
			{ra.ActRequestRead, "GET", "/requests?status=pending", nil},
			{ra.ActRequestApprove, "POST", "/requests/" + toApprove.ID + "/approve", map[string]any{}},
			{ra.ActRequestReject, "POST", "/requests/" + toReject.ID + "/reject", map[string]any{"reason": "test"}},
			{ra.ActCertRead, "GET", "/certificates/" + done.Serial, nil},
			{ra.ActCertRead, "GET", "/certificates?subscriber=" + sub.ID, nil},
			{ra.ActCertSuspend, "POST", "/certificates/" + done.Serial + "/suspend", map[string]any{}},
			{ra.ActCertResume, "POST", "/certificates/" + done.Serial + "/resume", map[string]any{}},
			{ra.ActCertRevoke, "POST", "/certificates/" + done.Serial + "/revoke", map[string]any{"reason": "superseded"}},
			{ra.ActOfficerAdd, "POST", "/officers", ra.OfficerInput{Name: fmt.Sprintf("new%d", n), Roles: []string{"auditor"}, CSR: ratest.CSR(t, ratest.Key(t))}},
			{ra.ActOfficerList, "GET", "/officers", nil},
			{ra.ActOfficerDeactivate, "POST", "/officers/" + target.ID + "/deactivate", map[string]any{}},
			{ra.ActAuditRead, "GET", "/audit?limit=5", nil},
			{ra.ActAuditVerify, "GET", "/audit/verify", nil},
		}
	}
	// Every action of the table has a cell.
	seen := map[ra.Action]bool{}
	for _, c := range cells() {
		seen[c.action] = true
	}
	for a := range ra.Permissions() {
		if !seen[a] {
			t.Errorf("action %s has no cell in this test", a)
		}
	}
	tested := 0
	for _, role := range ra.Roles() {
		_, cert := e.c.Officer(t, "only-"+string(role), string(role))
		cl := e.client(&cert)
		for _, c := range cells() {
			r := e.do(t, cl, c.method, c.path, c.body)
			allowed := ra.Allowed([]string{string(role)}, c.action)
			tested++
			if allowed && (r.code == 403 || r.code >= 500) {
				t.Errorf("%s may %s (%s %s) but got %d %s", role, c.action, c.method, c.path, r.code, r.body)
			}
			if !allowed {
				if k, _, _, _ := r.errField(t); r.code != 403 || k != "forbidden" {
					t.Errorf("%s may not %s (%s %s) but got %d %s", role, c.action, c.method, c.path, r.code, r.body)
				}
			}
		}
	}
	t.Logf("%d cells", tested)
}

// TestBadInput: what an officer may get wrong, each refused with the
// status and the field of API.md.
func TestBadInput(t *testing.T) {
	e := newEnv(t, "sqlite")
	_, regCert := e.c.Officer(t, "registrar1", "registrar")
	_, bothCert := e.c.Officer(t, "registrar2", "registrar", "approver")
	reg, both := e.client(&regCert), e.client(&bothCert)

	var sub ra.Subscriber
	decodeInto(t, e.do(t, reg, "POST", "/subscribers", ratest.Person("923456789012")), 201, &sub)

	// SQL metacharacters are text.
	var found struct{ Subscribers []ra.Subscriber }
	decodeInto(t, e.do(t, reg, "GET", "/subscribers?q="+urlq("'; DROP TABLE certificates; --"), nil), 200, &found)
	if len(found.Subscribers) != 0 {
		t.Errorf("metacharacter search found %v", found.Subscribers)
	}
	decodeInto(t, e.do(t, reg, "GET", "/subscribers?q="+urlq("%"), nil), 200, &found)
	if len(found.Subscribers) != 0 {
		t.Errorf("%% matched %d subscribers", len(found.Subscribers))
	}
	decodeInto(t, e.do(t, reg, "GET", "/subscribers?q="+urlq("раҳим"), nil), 200, &found)
	if len(found.Subscribers) != 1 {
		t.Errorf("search by part of the name found %d", len(found.Subscribers))
	}
	if _, err := e.c.Store.CertificatesAfter(context.Background(), "", nil, 1); err != nil {
		t.Fatalf("certificates table after the search: %v", err)
	}

	big := append([]byte(`{"kind":"person","passphrase":"`), bytes.Repeat([]byte("a"), api.MaxBody)...)
	big = append(big, `"}`...)
	if r := e.do(t, reg, "POST", "/subscribers", big); r.code != 413 {
		t.Errorf("body over 1 MiB: %d %s", r.code, r.body)
	}
	r := e.do(t, reg, "POST", "/subscribers", `{"kind":"person","foo":1}`)
	if k, f, _, msg := r.errField(t); r.code != 400 || k != "invalid" || f != "foo" || !strings.Contains(msg, `unknown field "foo"`) {
		t.Errorf("unknown field: %d %s", r.code, r.body)
	}
	r = e.do(t, reg, "POST", "/subscribers", `{"kind":"person","person":{"surname":"А","given_name":"Б","personal_number":"1","country":"TJ","nick":"x"}}`)
	if _, f, _, _ := r.errField(t); r.code != 400 || f != "nick" {
		t.Errorf("unknown nested field: %d %s", r.code, r.body)
	}
	for field, body := range map[string]any{
		"personal_number":     ratest.Person("12AB"),
		"registration_number": ra.SubscriberInput{Kind: "organization", Organization: &ra.OrganizationInput{Name: "Ширкат", RegistrationNumber: "x1", TaxNumber: "123456789", Country: "TJ"}},
		"tax_number":          ra.SubscriberInput{Kind: "organization", Organization: &ra.OrganizationInput{Name: "Ширкат", RegistrationNumber: "1234567", TaxNumber: "12", Country: "TJ"}},
	} {
		r := e.do(t, reg, "POST", "/subscribers", body)
		if k, f, _, msg := r.errField(t); r.code != 400 || k != "invalid" || f != field || !strings.Contains(msg, field) {
			t.Errorf("bad %s: %d %s", field, r.code, r.body)
		}
	}

	var own ra.Request
	decodeInto(t, e.do(t, both, "POST", "/requests", ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t))}), 201, &own)
	if r := e.do(t, both, "POST", "/requests/"+own.ID+"/approve", nil); r.code != 403 {
		t.Errorf("approving one's own request: %d %s", r.code, r.body)
	}
	var req ra.Request
	decodeInto(t, e.do(t, reg, "POST", "/requests", ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t))}), 201, &req)
	var done ra.Request
	decodeInto(t, e.do(t, both, "POST", "/requests/"+req.ID+"/approve", map[string]any{}), 200, &done)
	if done.Status != "issued" || done.Serial == "" || !strings.Contains(done.Certificate, "BEGIN CERTIFICATE") {
		t.Fatalf("approve: %+v", done)
	}
	r = e.do(t, both, "POST", "/requests/"+req.ID+"/approve", nil)
	if k, _, st, _ := r.errField(t); r.code != 409 || k != "conflict" || st != "issued" {
		t.Errorf("approve an issued request: %d %s", r.code, r.body)
	}
	var rej ra.Request
	decodeInto(t, e.do(t, reg, "POST", "/requests", ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t))}), 201, &rej)
	decodeInto(t, e.do(t, both, "POST", "/requests/"+rej.ID+"/reject", map[string]string{"reason": "expired passport"}), 200, &rej)
	r = e.do(t, both, "POST", "/requests/"+rej.ID+"/approve", nil)
	if _, _, st, _ := r.errField(t); r.code != 409 || st != "rejected" {
		t.Errorf("approve a rejected request: %d %s", r.code, r.body)
	}
	var cert ra.Certificate
	decodeInto(t, e.do(t, reg, "GET", "/certificates/"+strings.ToLower(done.Serial), nil), 200, &cert)
	if cert.SubscriberID != sub.ID || cert.Status != "good" {
		t.Errorf("certificate: %+v", cert)
	}
	if r := e.do(t, reg, "GET", "/nothing", nil); r.code != 404 {
		t.Errorf("unknown endpoint: %d", r.code)
	}
}

func urlq(s string) string {
	return strings.NewReplacer("%", "%25", " ", "%20", "'", "%27", ";", "%3B", "-", "-").Replace(s)
}

// TestConcurrentApprovalsAndRestart: fifty approvals over HTTP issue one
// certificate; a new process approving again after that issues none.
func TestConcurrentApprovalsAndRestart(t *testing.T) {
	e := newEnv(t, "sqlite")
	_, regCert := e.c.Officer(t, "registrar1", "registrar")
	_, appCert := e.c.Officer(t, "approver1", "approver")
	reg, app := e.client(&regCert), e.client(&appCert)
	var sub ra.Subscriber
	decodeInto(t, e.do(t, reg, "POST", "/subscribers", ratest.Person("133456789012")), 201, &sub)
	var req ra.Request
	decodeInto(t, e.do(t, reg, "POST", "/requests", ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t))}), 201, &req)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	serials := map[string]bool{}
	for range 50 {
		wg.Go(func() {
			r := e.do(t, app, "POST", "/requests/"+req.ID+"/approve", nil)
			mu.Lock()
			defer mu.Unlock()
			codes[r.code]++
			if r.code == 200 {
				var v ra.Request
				_ = json.Unmarshal(r.body, &v)
				serials[v.Serial] = true
			}
		})
	}
	wg.Wait()
	if codes[200]+codes[409] != 50 || len(serials) != 1 {
		t.Fatalf("status codes %v, serials %v", codes, serials)
	}
	if n := issuedCount(t, e.c.Store); n != 1 {
		t.Fatalf("%d qes-person certificates, want 1", n)
	}
	// "Restart": a new service with new issuers on the same database.
	issuers := map[string]ra.Issuer{}
	for id := range e.c.Issuers {
		iss, err := ca.NewIssuer(context.Background(), ca.IssuerOptions{CAID: id, Store: e.c.Store, Keys: e.c.Keys, Settings: ratest.Settings()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { iss.Close() })
		issuers[id] = iss
	}
	o := e.c.Opts
	o.Issuers = issuers
	svc, err := ra.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e2 := serve(t, e.c, svc)
	r := e2.do(t, e2.client(&appCert), "POST", "/requests/"+req.ID+"/approve", nil)
	if _, _, st, _ := r.errField(t); r.code != 409 || st != "issued" {
		t.Fatalf("replayed approval after restart: %d %s", r.code, r.body)
	}
	if n := issuedCount(t, e.c.Store); n != 1 {
		t.Fatalf("%d certificates after the replay, want 1", n)
	}
	t.Logf("50 approvals: %v", codes)
}

func issuedCount(t *testing.T, st store.Store) int {
	t.Helper()
	page, err := st.CertificatesAfter(context.Background(), "", nil, 500)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range page {
		if strings.HasPrefix(c.Profile, "qes-person") {
			n++
		}
	}
	return n
}
