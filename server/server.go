package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/httpx"
)

// Defaults for the Options fields that may be left zero.
const (
	// DefaultHealthTimeout bounds one round of health checks.
	DefaultHealthTimeout = 2 * time.Second
	// DefaultHealthTTL is how long one round answers probes.
	DefaultHealthTTL = time.Second
	// DefaultCRLMaxAge caps how long caches may keep a CRL even when its
	// nextUpdate is days away: a CRL is reissued within minutes of a
	// revocation and relying parties should see it soon.
	DefaultCRLMaxAge = 5 * time.Minute
)

// Listener names.
const (
	ListenerPublic = "public" // agencies and anyone: repository, TSA, OCSP, /healthz
	ListenerOps    = "ops"    // operators: /metrics, detailed /healthz
	// ListenerOfficer (mTLS, officer certificates) comes with the
	// Officers issue; Listener.TLS is where it plugs in.
)

// Options configures a Server. Everything has a usable zero value except
// HTTP, whose zero timeouts mean "none" and so should come from
// config.Load (which fills defaults).
type Options struct {
	// Repository, when set, mounts GET /ca/{file} and /crl/{file} on the
	// public listener (the repository role).
	Repository Repository
	// Registry receives the metrics and is what the operations listener's
	// /metrics serves. nil gives the server a private registry.
	Registry *prometheus.Registry
	Logger   *slog.Logger // nil discards
	HTTP     config.HTTP
	Clock    func() time.Time // the repository's clock; nil is time.Now
	// HealthTimeout bounds a round of health checks (default 2 s).
	HealthTimeout time.Duration
	// HealthTTL is how long a round's result answers probes (default 1 s;
	// negative: every probe after a round runs a new one).
	HealthTTL time.Duration
	// CRLMaxAge caps Cache-Control max-age on CRLs (default 5 min).
	CRLMaxAge time.Duration
}

// Server holds muhrd's routes per listener and its health. Build it with
// New, mount the roles' routes on Public (and Ops), then Run.
type Server struct {
	repo      Repository
	reg       *prometheus.Registry
	log       *slog.Logger
	httpCfg   config.HTTP
	clock     func() time.Time
	crlMaxAge time.Duration
	health    *Health
	metrics   *httpx.Metrics

	public, ops *httpx.Mux
	publicH     http.Handler
	opsH        http.Handler
}

// New builds a Server and registers its metrics on opts.Registry. Like
// prometheus.MustRegister it panics when they are registered there
// already: a wiring mistake that must fail at start.
func New(opts Options) *Server {
	s := &Server{
		reg:       opts.Registry,
		log:       opts.Logger,
		httpCfg:   opts.HTTP,
		clock:     opts.Clock,
		crlMaxAge: opts.CRLMaxAge,
		public:    httpx.NewMux(),
		ops:       httpx.NewMux(),
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
	if s.crlMaxAge <= 0 {
		s.crlMaxAge = DefaultCRLMaxAge
	}
	timeout, ttl := opts.HealthTimeout, opts.HealthTTL
	if timeout <= 0 {
		timeout = DefaultHealthTimeout
	}
	if ttl == 0 {
		ttl = DefaultHealthTTL
	}
	m, err := httpx.NewMetrics(s.reg)
	if err != nil {
		panic(fmt.Sprintf("server: %v", err))
	}
	s.metrics = m
	up := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "muhr_dependency_up",
		Help: "1 if the dependency passed its last health check, 0 if not.",
	}, []string{"dependency"})
	if err := s.reg.Register(up); err != nil {
		panic(fmt.Sprintf("server: register health metrics: %v", err))
	}
	s.health = newHealth(timeout, ttl, time.Now, s.log, up)

	s.public.HandleFunc("GET /healthz", s.health.publicHandler)
	if opts.Repository != nil {
		s.MountRepository(opts.Repository)
	}
	s.ops.HandleFunc("GET /healthz", s.health.detailHandler)
	s.ops.Handle("GET /metrics", s.metricsHandler())

	s.publicH = s.wrap(ListenerPublic, s.public)
	s.opsH = s.wrap(ListenerOps, s.ops)
	return s
}

func (s *Server) wrap(name string, h http.Handler) http.Handler {
	return httpx.Wrap(h, httpx.Options{Listener: name, Logger: s.log, Metrics: s.metrics, MaxBodyBytes: s.httpCfg.MaxBodyBytes})
}

// MountRepository serves GET /ca/{file} and /crl/{file} from repo on the
// public listener (the repository role). Call it once, before serving.
func (s *Server) MountRepository(repo Repository) {
	s.repo = repo
	s.public.HandleFunc("GET /ca/{file}", s.handleCA)
	s.public.HandleFunc("GET /crl/{file}", s.handleCRL)
}

// Public is the public listener's route table, where roles mount.
func (s *Server) Public() *httpx.Mux { return s.public }

// Ops is the operations listener's route table.
func (s *Server) Ops() *httpx.Mux { return s.ops }

// Handle mounts a handler on the public listener behind the middleware.
// pattern is a ServeMux pattern; it panics on a conflict, as ServeMux does.
func (s *Server) Handle(pattern string, h http.Handler) { s.public.Handle(pattern, h) }

// Handler returns the public routes wrapped in the middleware.
func (s *Server) Handler() http.Handler { return s.publicH }

// OpsHandler returns the operations routes wrapped in the middleware.
func (s *Server) OpsHandler() http.Handler { return s.opsH }

// AddCheck adds what a running role needs to /healthz and the dependency
// gauge. Call it before serving.
func (s *Server) AddCheck(c *Check) { s.health.Add(c) }

// Health is the server's health, for callers that need a report.
func (s *Server) Health() *Health { return s.health }

// metricsHandler refreshes the dependency gauges before each scrape (from
// the coalesced report, so a scrape costs no extra probe) so they are
// current even when no load balancer polls /healthz.
func (s *Server) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{s.log},
		ErrorHandling: promhttp.ContinueOnError,
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = s.health.Report(r.Context())
		h.ServeHTTP(w, r)
	})
}

// promLogger routes promhttp's gather errors to slog.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) {
	l.log.Error("metrics gather", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}

// Listener is one address the center serves, with its routes.
type Listener struct {
	Name    string       // ListenerPublic, ListenerOps, ...
	Net     net.Listener // bound; Run closes it
	Handler http.Handler // Server.Handler, Server.OpsHandler
	// TLS, when set, serves HTTPS on Net; the officers' listener will set
	// ClientAuth: tls.RequireAndVerifyClientCert here.
	TLS *tls.Config
}

// Listen binds addr for the listener called name; the error names both.
func Listen(ctx context.Context, name, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener %s: %w", name, addr, err)
	}
	return ln, nil
}

// httpServer builds the http.Server of one listener.
func (s *Server) httpServer(ctx context.Context, h http.Handler, tc *tls.Config) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tc,
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

// Run serves every listener until ctx is cancelled or one of them fails,
// then shuts them all down together: they stop accepting at once and
// in-flight requests get up to HTTP.ShutdownTimeout to finish. Run returns
// only when every listener has stopped and its requests have drained (or
// been cut off at the deadline), so the caller may then close what the
// handlers use: services first, then the store and the token. It returns
// nil after a clean shutdown and closes every listener in every case.
func (s *Server) Run(ctx context.Context, lns ...Listener) error {
	if len(lns) == 0 {
		return errors.New("server: no listener to serve")
	}
	srvs := make([]*http.Server, len(lns))
	served := make(chan error, len(lns))
	for i, l := range lns {
		srvs[i] = s.httpServer(ctx, l.Handler, l.TLS)
		s.log.Info("http listening", "listener", l.Name, "addr", l.Net.Addr().String(), "tls", l.TLS != nil)
		go func() {
			var err error
			if l.TLS != nil {
				err = srvs[i].ServeTLS(l.Net, "", "")
			} else {
				err = srvs[i].Serve(l.Net)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				err = fmt.Errorf("serve %s %s: %w", l.Name, l.Net.Addr(), err)
			} else {
				err = nil
			}
			served <- err
		}()
	}
	var first error
	select {
	case first = <-served:
		// Serve only returns early on a listener failure.
		if first == nil {
			first = errors.New("server: a listener stopped unasked")
		}
	case <-ctx.Done():
	}
	s.log.Info("http shutdown", "timeout", s.httpCfg.ShutdownTimeout)
	shutCtx, cancel := shutdownContext(ctx, s.httpCfg.ShutdownTimeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := []error{first}
	for i, srv := range srvs {
		wg.Go(func() {
			if err := srv.Shutdown(shutCtx); err != nil {
				// Requests still running past the deadline are cut off
				// rather than left to hold the process.
				_ = srv.Close()
				mu.Lock()
				errs = append(errs, fmt.Errorf("shutdown %s %s: %w", lns[i].Name, lns[i].Net.Addr(), err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Collect the serve results of the listeners that were still up.
	remaining := len(lns)
	if first != nil {
		remaining--
	}
	for ; remaining > 0; remaining-- {
		if err := <-served; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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

// Serve serves the public routes on ln until ctx is cancelled (see Run).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.Run(ctx, Listener{Name: ListenerPublic, Net: ln, Handler: s.publicH})
}

// ListenAndServe listens on the TCP address addr and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := Listen(ctx, ListenerPublic, addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}
