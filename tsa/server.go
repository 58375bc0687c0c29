package tsa

import (
	"context"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/policy/ids"
	"github.com/muhr-pki/muhr/store"
)

// DefaultPolicy is the ETSI EN 319 421 best-practices policy for time-stamps
// (0.4.0.2023.1.1), the policy of tokens whose request names none unless
// configured otherwise. It comes from package policy, the one place the
// center's policy OIDs are defined.
var DefaultPolicy = func() asn1.ObjectIdentifier {
	o, err := ParseOID(ids.TSABestPractices)
	if err != nil {
		panic("tsa: " + err.Error())
	}
	return o
}()

// ParseOID parses a dotted OID ("0.4.0.2023.1.1").
func ParseOID(s string) (asn1.ObjectIdentifier, error) {
	var o asn1.ObjectIdentifier
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 || (len(part) > 1 && part[0] == '0') {
			return nil, fmt.Errorf("%q is not a dotted OID", s)
		}
		o = append(o, n)
	}
	if len(o) < 2 || o[0] > 2 {
		return nil, fmt.Errorf("%q is not a dotted OID", s)
	}
	return o, nil
}

// MaxAccuracy is the largest accuracy a token may state (ETSI EN 319 421).
// A token's accuracy must cover the most the clock guard lets the clock be
// off (Options.ClockError) plus GenTimePrecision, which truncating genTime
// costs.
const MaxAccuracy = config.TSAMaxAccuracy

// maxSerialAttempts bounds the retries after a serial collision in the
// ledger (2^-160 per pair: a second collision in a row means a broken RNG).
const maxSerialAttempts = 3

// Clock gives the trusted time, or an error when the time cannot be trusted
// now (the clock guard).
type Clock interface {
	Now(ctx context.Context) (time.Time, error)
}

// Options configures a Server.
type Options struct {
	Unit   *Unit
	Ledger Ledger
	Clock  Clock
	// Accuracy is stated in every token: at least ClockError +
	// GenTimePrecision, at most MaxAccuracy; rounded up to microseconds.
	Accuracy time.Duration
	// ClockError is the most Clock may be off while it answers (the clock
	// guard's budget).
	ClockError time.Duration
	// Policies are the acceptable requested policies; each must be in the
	// unit certificate's certificatePolicies. Empty means {Default}.
	Policies []asn1.ObjectIdentifier
	// Default is the policy of tokens whose request names none
	// (DefaultPolicy when nil); it must be one of Policies.
	Default asn1.ObjectIdentifier
	// Registry receives the TSA's metrics; nil registers nothing.
	Registry prometheus.Registerer
	Logger   *slog.Logger     // nil discards
	Now      func() time.Time // the ledger's issued_at; nil is time.Now
}

// Server issues tokens. It is safe for concurrent use.
type Server struct {
	unit     *Unit
	ledger   Ledger
	clock    Clock
	accuracy time.Duration
	policies []asn1.ObjectIdentifier
	def      asn1.ObjectIdentifier
	log      *slog.Logger
	now      func() time.Time
	metrics  *metrics
	tmpl     *signerTemplate
	gate     gate
}

// New checks the options against the unit and builds a Server.
func New(o Options) (*Server, error) {
	if o.Unit == nil || o.Ledger == nil || o.Clock == nil {
		return nil, errors.New("tsa: Unit, Ledger and Clock are required")
	}
	o.Accuracy = (o.Accuracy + GenTimePrecision - 1).Truncate(GenTimePrecision)
	if o.ClockError < 0 || o.Accuracy < o.ClockError+GenTimePrecision || o.Accuracy > MaxAccuracy {
		return nil, fmt.Errorf("tsa: accuracy %s outside %s..%s (the clock's tolerated error %s plus genTime's precision %s)",
			o.Accuracy, o.ClockError+GenTimePrecision, MaxAccuracy, o.ClockError, GenTimePrecision)
	}
	s := &Server{unit: o.Unit, ledger: o.Ledger, clock: o.Clock, accuracy: o.Accuracy,
		policies: o.Policies, def: o.Default, log: o.Logger, now: o.Now}
	if s.def == nil {
		s.def = DefaultPolicy
	}
	if len(s.policies) == 0 {
		s.policies = []asn1.ObjectIdentifier{s.def}
	}
	if !s.accepts(s.def) {
		return nil, fmt.Errorf("tsa: default policy %s is not among the accepted policies", s.def)
	}
	for _, p := range s.policies {
		if !o.Unit.acceptsPolicy(p) {
			return nil, fmt.Errorf("%w: policy %s is not in the TSA unit certificate's certificatePolicies", ErrUnit, p)
		}
	}
	tmpl, err := newSignerTemplate(o.Unit, s.accuracy, s.policies)
	if err != nil {
		return nil, err
	}
	s.tmpl = tmpl
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	m, err := newMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	return s, nil
}

func (s *Server) accepts(p asn1.ObjectIdentifier) bool {
	for _, a := range s.policies {
		if a.Equal(p) {
			return true
		}
	}
	return false
}

// Respond answers one DER TimeStampReq with a DER TimeStampResp: a granted
// token that is already in the ledger, or a rejection. requester is the
// client's address, recorded in the ledger.
func (s *Server) Respond(ctx context.Context, der []byte, requester string) []byte {
	start := time.Now()
	if !s.gate.enter() {
		rej := reject(SystemFailure, "the TSA is shutting down; try again shortly")
		s.metrics.observe(rej.Failure.String(), time.Since(start))
		return rej.Encode()
	}
	defer s.gate.leave()
	// A request once admitted runs to its end even when the client or a
	// shutdown cancels ctx: signing and the bounded ledger commit decide
	// together whether a token exists, and Close waits for that.
	resp, result := s.respond(context.WithoutCancel(ctx), der, requester)
	s.metrics.observe(result, time.Since(start))
	return resp
}

func (s *Server) respond(ctx context.Context, der []byte, requester string) ([]byte, string) {
	req, rej := ParseRequest(der)
	if rej == nil {
		rej = s.admit(req)
	}
	if rej != nil {
		return rej.Encode(), rej.Failure.String()
	}
	policy := s.def
	if req.Policy != nil {
		policy = req.Policy
	}
	now, err := s.clock.Now(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "tsa: refusing, clock not trusted", "err", err)
		rej := reject(TimeNotAvailable, "the TSA's clock cannot be trusted now; try later")
		return rej.Encode(), rej.Failure.String()
	}
	if now.Before(s.unit.Cert.NotBefore) || now.After(s.unit.Cert.NotAfter) {
		s.log.ErrorContext(ctx, "tsa: TSA unit certificate is not valid now", "not_after", s.unit.Cert.NotAfter)
		return reject(SystemFailure, "the TSA cannot sign now").Encode(), SystemFailure.String()
	}
	// Truncated, never rounded up: genTime is never later than the moment
	// the clock was read, so never later than the client holds the reply.
	genTime := now.UTC().Truncate(GenTimePrecision)
	for attempt := 1; ; attempt++ {
		tok, err := s.tmpl.sign(req, policy, genTime)
		if err != nil {
			s.log.ErrorContext(ctx, "tsa: signing failed", "err", err)
			return reject(SystemFailure, "the TSA cannot sign now").Encode(), SystemFailure.String()
		}
		err = s.ledger.RecordToken(ctx, store.TSAToken{
			Serial: tok.serial, GenTime: genTime, HashAlgorithm: req.HashOID.String(),
			MessageImprint: req.Imprint, Policy: policy.String(), Requester: requester,
			SignerCAID: s.unit.CAID, SignerSerial: s.unit.Serial, TokenDER: tok.ledger, IssuedAt: s.now(),
		})
		if errors.Is(err, store.ErrDuplicateSerial) && attempt < maxSerialAttempts {
			// The token with the reused serial is dropped unseen.
			s.log.WarnContext(ctx, "tsa: serial already in the ledger; signing again", "serial", tok.serial.Text(16))
			continue
		}
		if err != nil {
			s.log.ErrorContext(ctx, "tsa: ledger write failed; token not released", "err", err)
			return reject(SystemFailure, "the TSA cannot record tokens now").Encode(), SystemFailure.String()
		}
		s.log.DebugContext(ctx, "tsa: token issued", "serial", tok.serial.Text(16), "policy", policy.String())
		return tok.response, "granted"
	}
}

// admit applies the configuration to a well-formed request.
func (s *Server) admit(req *Request) *Rejection {
	if req.HasExtensions {
		return reject(UnacceptedExtension, "this TSA accepts no request extensions")
	}
	if req.Policy != nil && !s.accepts(req.Policy) {
		return reject(UnacceptedPolicy, "policy %s is not offered by this TSA", req.Policy)
	}
	return nil
}
