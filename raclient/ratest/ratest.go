// Package ratest is an in-memory officer API (API.md v1) behind a real
// mTLS listener, for testing the client and the CLI without muhrd. It
// keeps to the contract's shapes, roles and error kinds; issuance signs
// with a throwaway CA. The real server is tested end to end elsewhere.
package ratest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/raclient"
)

// Server is the fake officer API.
type Server struct {
	URL      string
	CAFile   string // the CA bundle officers trust (PEM)
	Dir      string
	CA       *x509.Certificate
	caKey    crypto.Signer
	srv      *httptest.Server
	mu       sync.Mutex
	officers map[string]*raclient.Officer // by fingerprint
	subs     []*raclient.Subscriber
	reqs     []*raclient.Request
	reqCSR   map[string]string
	reqQSCD  map[string]*raclient.QSCDEvidence
	certs    []*raclient.Certificate
	audit    []raclient.AuditRecord
	next     int
	// Calls counts requests by "METHOD path" (tests check retries).
	Calls map[string]int
}

// New starts the fake server; it stops with the test.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{Dir: t.TempDir(), officers: map[string]*raclient.Officer{}, reqCSR: map[string]string{}, reqQSCD: map[string]*raclient.QSCDEvidence{}, Calls: map[string]int{}}
	s.caKey = newKey(t)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ratest management CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, s.caKey.Public(), s.caKey)
	if err != nil {
		t.Fatal(err)
	}
	s.CA, _ = x509.ParseCertificate(der)
	s.CAFile = filepath.Join(s.Dir, "ca.pem")
	writePEM(t, s.CAFile, "CERTIFICATE", der, 0o644)
	srvKey := newKey(t)
	srvDER := s.sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, srvKey.Public())
	pool := x509.NewCertPool()
	pool.AddCert(s.CA)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	return s
}

func newKey(t testing.TB) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t testing.TB, path, typ string, der []byte, mode os.FileMode) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		t.Fatal(err)
	}
}

func (s *Server) sign(t testing.TB, tmpl *x509.Certificate, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := s.signCert(tmpl, pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (s *Server) signCert(tmpl *x509.Certificate, pub crypto.PublicKey) ([]byte, error) {
	if tmpl.SerialNumber == nil {
		b := make([]byte, 16)
		rand.Read(b)
		b[0] &= 0x7f
		b[0] |= 0x01 // a leading zero digit would hide how serials print
		tmpl.SerialNumber = new(big.Int).SetBytes(b)
	}
	tmpl.NotBefore = time.Now().Add(-time.Minute)
	tmpl.NotAfter = time.Now().Add(365 * 24 * time.Hour)
	return x509.CreateCertificate(rand.Reader, tmpl, s.CA, pub, s.caKey)
}

// OfficerFiles is what an officer needs to run muhr.
type OfficerFiles struct {
	ID, Cert, Key, Config string
	Signer                crypto.Signer
}

// AddOfficer registers an officer with a key file and writes its config.
func (s *Server) AddOfficer(t testing.TB, name string, roles ...string) OfficerFiles {
	t.Helper()
	k := newKey(t)
	return s.AddOfficerKey(t, name, k, roles...)
}

// AddOfficerKey registers an officer whose key is k (e.g. on a card); the
// key file is written only when k is a software key.
func (s *Server) AddOfficerKey(t testing.TB, name string, k crypto.Signer, roles ...string) OfficerFiles {
	t.Helper()
	der := s.sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: name}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, k.Public())
	f := OfficerFiles{Cert: filepath.Join(s.Dir, name+".crt"), Key: filepath.Join(s.Dir, name+".key"), Config: filepath.Join(s.Dir, name+".yaml"), Signer: k}
	writePEM(t, f.Cert, "CERTIFICATE", der, 0o644)
	if p8, err := x509.MarshalPKCS8PrivateKey(k); err == nil {
		writePEM(t, f.Key, "PRIVATE KEY", p8, 0o600)
	}
	body := fmt.Sprintf("server: %s\nca_bundle: %s\ncert: %s\nkey: %s\ntimeout: 5s\n", s.URL, s.CAFile, f.Cert, f.Key)
	if err := os.WriteFile(f.Config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	f.ID = fmt.Sprintf("o-%d", s.next)
	s.officers[hex.EncodeToString(sum[:])] = &raclient.Officer{ID: f.ID, Name: name, Roles: roles, Active: true, Fingerprint: hex.EncodeToString(sum[:]), CreatedAt: now()}
	return f
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

type apiError struct {
	status int
	raclient.Refused
}

func fail(status int, kind, msg string) *apiError {
	return &apiError{status: status, Refused: raclient.Refused{Kind: kind, Message: msg}}
}

func (e *apiError) field(f string) *apiError  { e.Field = f; return e }
func (e *apiError) state(st string) *apiError { e.State = st; return e }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// route is one endpoint: the roles that may call it, and its handler.
type route struct {
	method, pattern string
	roles           []string
	h               func(s *Server, o *raclient.Officer, r *http.Request, args []string) (int, any, *apiError)
}

const idPat = `([^/]+)`

func routes() []route {
	return []route{
		{"GET", "/whoami", nil, (*Server).whoami},
		{"POST", "/subscribers", []string{"registrar"}, (*Server).createSubscriber},
		{"GET", "/subscribers/" + idPat, []string{"registrar", "approver", "auditor"}, (*Server).getSubscriber},
		{"GET", "/subscribers", []string{"registrar", "approver", "auditor"}, (*Server).searchSubscribers},
		{"POST", "/requests", []string{"registrar"}, (*Server).submit},
		{"GET", "/requests/" + idPat, []string{"registrar", "approver", "auditor"}, (*Server).getRequest},
		{"GET", "/requests", []string{"registrar", "approver", "auditor"}, (*Server).listRequests},
		{"POST", "/requests/" + idPat + "/approve", []string{"approver"}, (*Server).approve},
		{"POST", "/requests/" + idPat + "/reject", []string{"approver"}, (*Server).reject},
		{"GET", "/certificates/" + idPat, []string{"registrar", "approver", "auditor"}, (*Server).getCert},
		{"GET", "/certificates", []string{"registrar", "approver", "auditor"}, (*Server).listCerts},
		{"POST", "/certificates/" + idPat + "/(revoke|suspend|resume)", []string{"registrar"}, (*Server).status},
		{"POST", "/officers", []string{"admin"}, (*Server).createOfficer},
		{"GET", "/officers", []string{"admin"}, (*Server).listOfficers},
		{"POST", "/officers/" + idPat + "/deactivate", []string{"admin"}, (*Server).deactivate},
		{"GET", "/audit", []string{"auditor"}, (*Server).auditList},
		{"GET", "/audit/verify", []string{"auditor"}, (*Server).auditVerify},
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Calls[r.Method+" "+r.URL.Path]++
	status, v, e := s.dispatch(r)
	if e != nil {
		writeJSON(w, e.status, map[string]any{"error": e.Refused})
		return
	}
	writeJSON(w, status, v)
}

func (s *Server) dispatch(r *http.Request) (int, any, *apiError) {
	if len(r.TLS.PeerCertificates) == 0 {
		return 0, nil, fail(403, "forbidden", "no client certificate")
	}
	sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
	o := s.officers[hex.EncodeToString(sum[:])]
	if o == nil || !o.Active {
		return 0, nil, fail(403, "forbidden", "not an active officer")
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/api/v1")
	if !ok {
		return 0, nil, fail(404, "not_found", "no such endpoint")
	}
	for _, rt := range routes() {
		m := regexp.MustCompile("^" + rt.pattern + "$").FindStringSubmatch(path)
		if m == nil || rt.method != r.Method {
			continue
		}
		if rt.roles != nil && !slices.ContainsFunc(o.Roles, func(x string) bool { return slices.Contains(rt.roles, x) }) {
			return 0, nil, fail(403, "forbidden", fmt.Sprintf("officer %s (roles %s) may not do this; it needs role %s", o.Name, strings.Join(o.Roles, ","), strings.Join(rt.roles, " or ")))
		}
		s.audit = append(s.audit, raclient.AuditRecord{Seq: int64(len(s.audit) + 1), Time: now(), Actor: o.Name, Action: r.Method + " " + path})
		return rt.h(s, o, r, m[1:])
	}
	return 0, nil, fail(404, "not_found", "no such endpoint "+r.Method+" "+path)
}

func decode(r *http.Request, v any) *apiError {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err != nil {
		return fail(400, "invalid", err.Error())
	}
	if len(b) > 1<<20 {
		return fail(413, "invalid", "body over 1 MiB")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return fail(400, "invalid", "unknown field "+f).field(strings.Trim(f, `"`))
		}
		return fail(400, "invalid", msg)
	}
	return nil
}

func (s *Server) id(prefix string) string { s.next++; return fmt.Sprintf("%s-%d", prefix, s.next) }

func (s *Server) whoami(o *raclient.Officer, _ *http.Request, _ []string) (int, any, *apiError) {
	return 200, o, nil
}

func (s *Server) createSubscriber(o *raclient.Officer, r *http.Request, _ []string) (int, any, *apiError) {
	var in raclient.SubscriberInput
	if e := decode(r, &in); e != nil {
		return 0, nil, e
	}
	sub := &raclient.Subscriber{ID: s.id("s"), Kind: in.Kind, Person: in.Person, Organization: in.Organization,
		HasPassphrase: in.Passphrase != "", Agreement: in.Agreement, PDS: in.PDS, CreatedBy: o.Name, CreatedAt: now()}
	switch in.Kind {
	case "person":
		if in.Person == nil || !regexp.MustCompile(`^[0-9]{9}$`).MatchString(in.Person.PersonalNumber) {
			return 0, nil, fail(400, "invalid", "personal_number must be 9 digits").field("personal_number")
		}
	case "organization":
		if in.Organization == nil {
			return 0, nil, fail(400, "invalid", "organization missing").field("organization")
		}
	default:
		return 0, nil, fail(400, "invalid", "kind must be person or organization").field("kind")
	}
	if in.Evidence != nil {
		sub.Evidence = []raclient.Evidence{{Type: in.Evidence.Type, Number: in.Evidence.Number, FileSHA256: in.Evidence.FileSHA256}}
	}
	s.subs = append(s.subs, sub)
	return 201, sub, nil
}

func (s *Server) findSub(id string) *raclient.Subscriber {
	for _, x := range s.subs {
		if x.ID == id {
			return x
		}
	}
	return nil
}

func (s *Server) getSubscriber(_ *raclient.Officer, _ *http.Request, a []string) (int, any, *apiError) {
	if x := s.findSub(a[0]); x != nil {
		return 200, x, nil
	}
	return 0, nil, fail(404, "not_found", "no subscriber "+a[0])
}

func (s *Server) searchSubscribers(_ *raclient.Officer, r *http.Request, _ []string) (int, any, *apiError) {
	q := strings.ToLower(r.URL.Query().Get("q"))
	out := []*raclient.Subscriber{}
	for _, x := range s.subs {
		b, _ := json.Marshal(x)
		if strings.Contains(strings.ToLower(string(b)), q) {
			out = append(out, x)
		}
	}
	return 200, map[string]any{"subscribers": out}, nil
}

func (s *Server) submit(o *raclient.Officer, r *http.Request, _ []string) (int, any, *apiError) {
	var in raclient.RequestInput
	if e := decode(r, &in); e != nil {
		return 0, nil, e
	}
	if s.findSub(in.SubscriberID) == nil {
		return 0, nil, fail(404, "not_found", "no subscriber "+in.SubscriberID).field("subscriber_id")
	}
	blk, _ := pem.Decode([]byte(in.CSR))
	if blk == nil {
		return 0, nil, fail(400, "invalid", "csr is not PEM").field("csr")
	}
	if _, err := x509.ParseCertificateRequest(blk.Bytes); err != nil {
		return 0, nil, fail(400, "invalid", "csr: "+err.Error()).field("csr")
	}
	kind := in.Kind
	if kind == "" {
		kind = "new"
	}
	q := in.QSCD != nil && !in.QSCD.Extractable && in.QSCD.Sensitive && in.QSCD.Local
	req := &raclient.Request{ID: s.id("r"), SubscriberID: in.SubscriberID, Profile: in.Profile, Kind: kind, Status: "pending",
		QSCD: q, SubmittedBy: o.Name, CreatedAt: now()}
	s.reqs = append(s.reqs, req)
	s.reqCSR[req.ID] = in.CSR
	s.reqQSCD[req.ID] = in.QSCD
	return 201, req, nil
}

func (s *Server) findReq(id string) *raclient.Request {
	for _, x := range s.reqs {
		if x.ID == id {
			return x
		}
	}
	return nil
}

func (s *Server) getRequest(_ *raclient.Officer, _ *http.Request, a []string) (int, any, *apiError) {
	if x := s.findReq(a[0]); x != nil {
		return 200, x, nil
	}
	return 0, nil, fail(404, "not_found", "no request "+a[0])
}

func (s *Server) listRequests(_ *raclient.Officer, r *http.Request, _ []string) (int, any, *apiError) {
	st := r.URL.Query().Get("status")
	out := []*raclient.Request{}
	for _, x := range s.reqs {
		if st == "" || x.Status == st {
			out = append(out, x)
		}
	}
	return 200, map[string]any{"requests": out}, nil
}

func (s *Server) approve(o *raclient.Officer, r *http.Request, a []string) (int, any, *apiError) {
	var in struct{}
	if e := decode(r, &in); e != nil {
		return 0, nil, e
	}
	req := s.findReq(a[0])
	if req == nil {
		return 0, nil, fail(404, "not_found", "no request "+a[0])
	}
	if req.Status != "pending" {
		return 0, nil, fail(409, "conflict", "request "+req.ID+" is "+req.Status+"; only a pending request can be decided").state(req.Status)
	}
	if req.SubmittedBy == o.Name {
		return 0, nil, fail(403, "forbidden", "you submitted this request; another approver must approve it")
	}
	blk, _ := pem.Decode([]byte(s.reqCSR[req.ID]))
	csr, _ := x509.ParseCertificateRequest(blk.Bytes)
	sub := s.findSub(req.SubscriberID)
	name := pkix.Name{Country: []string{"TJ"}}
	if sub.Person != nil {
		name.CommonName = sub.Person.GivenName + " " + sub.Person.Surname
	} else {
		name.CommonName = sub.Organization.Name
	}
	der, err := s.signCert(&x509.Certificate{Subject: name}, csr.PublicKey)
	if err != nil {
		return 0, nil, fail(500, "internal", err.Error())
	}
	c, _ := x509.ParseCertificate(der)
	p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	req.Status, req.DecidedBy, req.DecidedAt = "issued", o.Name, now()
	req.Serial, req.Certificate = raclient.FormatSerial(c.SerialNumber), p
	s.certs = append(s.certs, &raclient.Certificate{Serial: req.Serial, SubscriberID: req.SubscriberID, Profile: req.Profile, Status: "good",
		NotBefore: c.NotBefore.UTC().Format(time.RFC3339), NotAfter: c.NotAfter.UTC().Format(time.RFC3339), Subject: c.Subject.String(),
		IssuerCA: "ratest", Certificate: p})
	return 200, req, nil
}

func (s *Server) reject(o *raclient.Officer, r *http.Request, a []string) (int, any, *apiError) {
	var in struct {
		Reason string `json:"reason"`
	}
	if e := decode(r, &in); e != nil {
		return 0, nil, e
	}
	req := s.findReq(a[0])
	if req == nil {
		return 0, nil, fail(404, "not_found", "no request "+a[0])
	}
	if req.Status != "pending" {
		return 0, nil, fail(409, "conflict", "request is "+req.Status).state(req.Status)
	}
	req.Status, req.DecidedBy, req.Reason, req.DecidedAt = "rejected", o.Name, in.Reason, now()
	return 200, req, nil
}

func (s *Server) findCert(serial string) (*raclient.Certificate, *apiError) {
	n, err := raclient.ParseSerial(serial)
	if err != nil {
		return nil, fail(400, "invalid", err.Error()).field("serial")
	}
	want := raclient.FormatSerial(n)
	for _, c := range s.certs {
		if c.Serial == want {
			return c, nil
		}
	}
	return nil, fail(404, "not_found", "no certificate with serial "+want)
}

func (s *Server) getCert(_ *raclient.Officer, _ *http.Request, a []string) (int, any, *apiError) {
	c, e := s.findCert(a[0])
	if e != nil {
		return 0, nil, e
	}
	return 200, c, nil
}

func (s *Server) listCerts(_ *raclient.Officer, r *http.Request, _ []string) (int, any, *apiError) {
	sub := r.URL.Query().Get("subscriber")
	out := []*raclient.Certificate{}
	for _, c := range s.certs {
		if c.SubscriberID == sub {
			out = append(out, c)
		}
	}
	return 200, map[string]any{"certificates": out}, nil
}

func (s *Server) status(_ *raclient.Officer, r *http.Request, a []string) (int, any, *apiError) {
	var in struct {
		Reason         string `json:"reason"`
		CompromiseTime string `json:"compromise_time"`
		Passphrase     string `json:"passphrase"`
	}
	if e := decode(r, &in); e != nil {
		return 0, nil, e
	}
	c, e := s.findCert(a[0])
	if e != nil {
		return 0, nil, e
	}
	switch a[1] {
	case "revoke":
		if !slices.Contains(raclient.RevokeReasons(), in.Reason) {
			return 0, nil, fail(400, "invalid", "reason "+in.Reason+" is not accepted").field("reason")
		}
		if c.Status == "revoked" {
			return 0, nil, fail(409, "conflict", "certificate "+c.Serial+" is already revoked").state(c.Status)
		}
		c.Status = "revoked"
		c.Revocation = &raclient.Revocation{Reason: in.Reason, Time: now(), InvalidityDate: in.CompromiseTime}
	case "suspend":
		if in.Passphrase != "" && in.Passphrase != "correct horse" {
			return 0, nil, fail(403, "forbidden", "wrong revocation passphrase")
		}
		if c.Status != "good" {
			return 0, nil, fail(409, "conflict", "certificate is "+c.Status).state(c.Status)
		}
		c.Status = "suspended"
		c.Revocation = &raclient.Revocation{Reason: "certificateHold", Time: now()}
	case "resume":
		if c.Status != "suspended" {
			return 0, nil, fail(409, "conflict", "certificate is "+c.Status+", not suspended").state(c.Status)
		}
		c.Status, c.Revocation = "good", nil
	}
	return 200, c, nil
}

func (s *Server) createOfficer(_ *raclient.Officer, r *http.Request, _ []string) (int, any, *apiError) {
	var in raclient.OfficerInput
	if e := decode(r, &in); e != nil {
		return 0, nil, e
	}
	blk, _ := pem.Decode([]byte(in.CSR))
	if blk == nil {
		return 0, nil, fail(400, "invalid", "csr is not PEM").field("csr")
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return 0, nil, fail(400, "invalid", err.Error()).field("csr")
	}
	for _, o := range s.officers {
		if o.Name == in.Name {
			return 0, nil, fail(409, "conflict", "officer "+in.Name+" exists")
		}
	}
	der, err := s.signCert(&x509.Certificate{Subject: pkix.Name{CommonName: in.Name}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, csr.PublicKey)
	if err != nil {
		return 0, nil, fail(500, "internal", err.Error())
	}
	sum := sha256.Sum256(der)
	o := &raclient.Officer{ID: s.id("o"), Name: in.Name, Roles: in.Roles, Active: true, Fingerprint: hex.EncodeToString(sum[:]), CreatedAt: now()}
	s.officers[o.Fingerprint] = o
	out := *o
	out.Certificate = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return 201, out, nil
}

func (s *Server) sortedOfficers() []*raclient.Officer {
	var out []*raclient.Officer
	for _, o := range s.officers {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b *raclient.Officer) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (s *Server) listOfficers(_ *raclient.Officer, _ *http.Request, _ []string) (int, any, *apiError) {
	return 200, map[string]any{"officers": s.sortedOfficers()}, nil
}

func (s *Server) deactivate(_ *raclient.Officer, _ *http.Request, a []string) (int, any, *apiError) {
	for _, o := range s.officers {
		if o.ID == a[0] || o.Name == a[0] {
			o.Active = false
			return 200, o, nil
		}
	}
	return 0, nil, fail(404, "not_found", "no officer "+a[0])
}

func (s *Server) auditList(_ *raclient.Officer, r *http.Request, _ []string) (int, any, *apiError) {
	after := int64(0)
	fmt.Sscan(r.URL.Query().Get("after_seq"), &after)
	limit := 2 // small pages, so the client's paging is exercised
	var out []raclient.AuditRecord
	var next int64
	for _, rec := range s.audit {
		if rec.Seq > after && len(out) < limit {
			out = append(out, rec)
			next = rec.Seq
		}
	}
	if len(out) < limit || next == int64(len(s.audit)) {
		next = 0
	}
	return 200, raclient.AuditPage{Records: out, NextAfterSeq: next}, nil
}

func (s *Server) auditVerify(_ *raclient.Officer, _ *http.Request, _ []string) (int, any, *apiError) {
	return 200, raclient.AuditReport{OK: true, Records: int64(len(s.audit)), Head: strings.Repeat("ab", 32), Checkpoints: 1}, nil
}

// Submitted returns what a request was submitted with: its CSR (PEM) and
// QSCD evidence (nil if none).
func (s *Server) Submitted(id string) (string, *raclient.QSCDEvidence) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqCSR[id], s.reqQSCD[id]
}
