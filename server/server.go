package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/muhr-pki/muhr/config"
)

// Defaults for the Options fields that may be left zero.
const (
	DefaultHealthTimeout = 2 * time.Second
	// DefaultCRLMaxAge caps how long caches may keep a CRL even when its
	// nextUpdate is days away: a CRL is reissued within minutes of a
	// revocation and relying parties should see it soon.
	DefaultCRLMaxAge = 5 * time.Minute
)

// Options configures a Server. Repository is required; everything else has
// a usable zero value except HTTP, whose zero timeouts mean "none" and so
// should come from config.Load (which fills defaults).
type Options struct {
	Repository Repository
	Health     Health
	// Registry receives the server's metrics and is what /metrics serves.
	// nil gives the server a private registry.
	Registry *prometheus.Registry
	Logger   *slog.Logger // nil discards
	HTTP     config.HTTP
	Clock    func() time.Time // nil is time.Now
	// HealthTimeout bounds each dependency check (default 2 s).
	HealthTimeout time.Duration
	// CRLMaxAge caps Cache-Control max-age on CRLs (default 5 min).
	CRLMaxAge time.Duration
}

// Server serves muhrd's public HTTP routes. Build it with New.
type Server struct {
	repo          Repository
	checks        []namedCheck
	reg           *prometheus.Registry
	log           *slog.Logger
	httpCfg       config.HTTP
	clock         func() time.Time
	healthTimeout time.Duration
	crlMaxAge     time.Duration
	metrics       *metrics
	mux           *http.ServeMux
	handler       http.Handler
}

// New builds a Server and registers its metrics on opts.Registry. Like
// prometheus.MustRegister it panics on wiring mistakes (nil Repository, the
// metrics already registered on that registry): these are programming
// errors that must fail at start, not on the first request.
func New(opts Options) *Server {
	if opts.Repository == nil {
		panic("server: Options.Repository is nil")
	}
	s := &Server{
		repo:          opts.Repository,
		reg:           opts.Registry,
		log:           opts.Logger,
		httpCfg:       opts.HTTP,
		clock:         opts.Clock,
		healthTimeout: opts.HealthTimeout,
		crlMaxAge:     opts.CRLMaxAge,
		mux:           http.NewServeMux(),
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.healthTimeout <= 0 {
		s.healthTimeout = DefaultHealthTimeout
	}
	if s.crlMaxAge <= 0 {
		s.crlMaxAge = DefaultCRLMaxAge
	}
	s.checks = []namedCheck{
		{name: "hsm", c: opts.Health.HSM},
		{name: "db", c: opts.Health.DB},
	}
	m, err := newMetrics(s.reg, s.checks)
	if err != nil {
		panic(fmt.Sprintf("server: %v", err))
	}
	s.metrics = m

	s.mux.HandleFunc("GET /healthz", s.handleHealthz)
	s.mux.Handle("GET /metrics", s.metricsHandler())
	s.mux.HandleFunc("GET /ca/{file}", s.handleCA)
	s.mux.HandleFunc("GET /crl/{file}", s.handleCRL)

	s.handler = s.wrap(s.mux)
	return s
}

// Handle mounts another handler (OCSP, TSA, ...) behind the same
// middleware. pattern is a net/http ServeMux pattern. Call it before
// serving; it panics on a conflicting pattern, as ServeMux does.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
}

// Handler returns the routes wrapped in the middleware.
func (s *Server) Handler() http.Handler { return s.handler }

// httpServer builds a fresh http.Server per Serve call so one Server can
// serve several listeners.
func (s *Server) httpServer(ctx context.Context) *http.Server {
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.httpCfg.ReadHeaderTimeout,
		ReadTimeout:       s.httpCfg.ReadTimeout,
		WriteTimeout:      s.httpCfg.WriteTimeout,
		IdleTimeout:       s.httpCfg.IdleTimeout,
		MaxHeaderBytes:    s.httpCfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// In-flight requests must outlive the cancellation of ctx so that
		// Shutdown can let them finish; values (trace ids) still flow.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// Serve serves on ln until ctx is cancelled, then shuts down gracefully:
// new connections are refused and in-flight requests get up to
// HTTP.ShutdownTimeout to finish. It returns nil after a clean shutdown and
// closes ln in every case.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := s.httpServer(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		// Serve only returns early on a listener failure.
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	s.log.Info("http shutdown", "addr", ln.Addr().String(), "timeout", s.httpCfg.ShutdownTimeout)
	shutCtx, cancel := shutdownContext(ctx, s.httpCfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), serr)
	}
	if err != nil {
		// Requests still running past the deadline are cut off rather
		// than left to hold the process.
		_ = srv.Close()
		return fmt.Errorf("shutdown %s: %w", ln.Addr(), err)
	}
	return nil
}

// shutdownContext detaches from the (already cancelled) serve context and
// applies the timeout; zero means wait for in-flight requests without bound.
func shutdownContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if timeout <= 0 {
		return context.WithCancel(base)
	}
	return context.WithTimeout(base, timeout)
}

// ListenAndServe listens on the TCP address addr and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	s.log.Info("http listening", "addr", ln.Addr().String())
	return s.Serve(ctx, ln)
}
