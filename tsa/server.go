package tsa

import (
	"context"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/muhr-pki/muhr/store"
)

// DefaultPolicy is the ETSI EN 319 421 best-practices policy for time-stamps
// (itu-t(0) identified-organization(4) etsi(0) time-stamp-policy(2023)
// policy-identifiers(1) best-practices-ts-policy(1)).
var DefaultPolicy = asn1.ObjectIdentifier{0, 4, 0, 2023, 1, 1}

// MaxAccuracy is the largest accuracy a token may state (ETSI EN 319 421).
// MinAccuracy is the smallest this TSA can honour: genTime has whole
// seconds (the library encodes no fraction), so rounding alone costs 0.5 s.
const (
	MaxAccuracy = time.Second
	MinAccuracy = 500*time.Millisecond + time.Millisecond
	// RoundingError is what rounding genTime to the second adds to the
	// clock's own error; the clock guard's budget is Accuracy minus this.
	RoundingError = 500 * time.Millisecond
)

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
	// Accuracy is stated in every token; MinAccuracy..MaxAccuracy.
	Accuracy time.Duration
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
}

// New checks the options against the unit and builds a Server.
func New(o Options) (*Server, error) {
	if o.Unit == nil || o.Ledger == nil || o.Clock == nil {
		return nil, errors.New("tsa: Unit, Ledger and Clock are required")
	}
	if o.Accuracy < MinAccuracy || o.Accuracy > MaxAccuracy {
		return nil, fmt.Errorf("tsa: accuracy %s outside %s..%s (genTime has whole seconds)", o.Accuracy, MinAccuracy, MaxAccuracy)
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
	resp, result := s.respond(ctx, der, requester)
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
	genTime := now.UTC().Round(time.Second)
	for attempt := 1; ; attempt++ {
		tok, err := s.sign(req, policy, genTime)
		if err != nil {
			s.log.ErrorContext(ctx, "tsa: signing failed", "err", err)
			return reject(SystemFailure, "the TSA cannot sign now").Encode(), SystemFailure.String()
		}
		err = s.ledger.RecordToken(ctx, store.TSAToken{
			Serial: tok.info.SerialNumber, GenTime: genTime, HashAlgorithm: req.HashOID.String(),
			MessageImprint: req.Imprint, Policy: policy.String(), Requester: requester,
			SignerCAID: s.unit.CAID, SignerSerial: s.unit.Serial, TokenDER: tok.token, IssuedAt: s.now(),
		})
		if errors.Is(err, store.ErrDuplicateSerial) && attempt < maxSerialAttempts {
			// The token with the reused serial is dropped unseen.
			s.log.WarnContext(ctx, "tsa: serial already in the ledger; signing again", "serial", tok.info.SerialNumber.Text(16))
			continue
		}
		if err != nil {
			s.log.ErrorContext(ctx, "tsa: ledger write failed; token not released", "err", err)
			return reject(SystemFailure, "the TSA cannot record tokens now").Encode(), SystemFailure.String()
		}
		s.log.DebugContext(ctx, "tsa: token issued", "serial", tok.info.SerialNumber.Text(16), "policy", policy.String())
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

// sign has the library build and sign the token. It draws the serial (160
// bits from crypto/rand) itself; the ledger's primary key makes it unique.
func (s *Server) sign(req *Request, policy asn1.ObjectIdentifier, genTime time.Time) (*issued, error) {
	t := timestamp.Timestamp{
		HashAlgorithm:     req.Hash,
		HashedMessage:     req.Imprint,
		Time:              genTime,
		Accuracy:          s.accuracy,
		Policy:            policy,
		Nonce:             req.Nonce,
		AddTSACertificate: req.CertReq,
	}
	resp, err := t.CreateResponseWithOpts(s.unit.Cert, s.unit.Signer, s.unit.Digest)
	if err != nil {
		return nil, fmt.Errorf("tsa: sign token: %w", err)
	}
	if req.CertReq {
		// The unit certificate is in; the intermediates follow it. The
		// chain was checked once, at LoadUnit.
		if resp, err = withIntermediates(resp, s.unit.Chain); err != nil {
			return nil, err
		}
	}
	return readBack(resp, req, policy, genTime)
}
