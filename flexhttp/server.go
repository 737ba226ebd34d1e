package flexhttp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/go-flexible/flexible/flex"
)

var (
	_ flex.Worker  = (*Server)(nil)
	_ flex.Readier = (*Server)(nil)
)

// ErrAlreadyStarted is returned by [Server.Run] when Run has been called
// before and Halt has not: while the first Run serves, or after it
// returned (a listen failure, a cancelled context). A Server runs once;
// build a new one to run again.
var ErrAlreadyStarted = errors.New("flexhttp: server already started")

// Server is an *http.Server run as a [flex.Worker]: Run listens and serves,
// Halt drains it gracefully. It also implements [flex.Readier] (ready once
// listening) and fmt.Stringer ("http(:8080)", "https(:8443)"), which names
// it in the logs and errors of a flex service.
//
// Build one with [New]. A Server runs once: after Halt it cannot be run
// again (Run returns nil at once). Its methods are safe for concurrent use.
type Server struct {
	srv      *http.Server
	requests *inflight // wraps srv.Handler
	addr     string    // the configured address, validated by New
	tls      bool
	logger   *slog.Logger
	name     string // WithName, else the scheme and addr

	ready     chan struct{} // closed once listening
	drained   chan struct{} // closed when the drain has ended, either way
	drainErr  error         // how it ended: the first outcome recorded
	errOnce   sync.Once     // guards drainErr
	drainOnce sync.Once     // guards close(drained)

	mu      sync.Mutex
	started bool   // Run was called
	halted  bool   // Halt was called
	bound   string // the listener's address, once listening
}

// New returns a Server that serves srv. A nil srv means a new, empty
// &http.Server{}; two Servers built from nil share nothing.
//
// New takes ownership of srv, which the caller must not serve or shut down
// itself, and configures it:
//   - Addr is set to the address to listen on: [WithAddr], else
//     FLEX_HTTP_ADDR, else PORT ("8080" means ":8080"), else srv.Addr, else
//     [DefaultAddr];
//   - the timeouts left at zero (ReadHeaderTimeout, ReadTimeout,
//     WriteTimeout, IdleTimeout) are set to [DefaultReadHeaderTimeout] and
//     its siblings; timeouts already set, or negative, are kept;
//   - a nil Handler is replaced by http.NotFoundHandler(), never by
//     http.DefaultServeMux, which is shared by the whole process: pass
//     http.DefaultServeMux explicitly to serve it;
//   - with [WithHealth], Handler is wrapped to serve /livez and /readyz,
//     tersely unless [WithHealthDetail] is on;
//   - with TLS ([WithTLS] or FLEX_HTTP_TLS_CERT_FILE and
//     FLEX_HTTP_TLS_KEY_FILE), TLSConfig is replaced by a clone holding the
//     certificate.
//
// New validates everything before changing srv: an invalid address, a
// certificate or key file missing, unreadable or not matching, or a nil
// health handler returns an error naming the option or environment
// variable and its value, and leaves srv untouched. Nothing listens before
// [Server.Run].
func New(srv *http.Server, opts ...Option) (*Server, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if srv == nil {
		srv = &http.Server{}
	}
	addr, err := cfg.resolveAddr(srv.Addr)
	if err != nil {
		return nil, err
	}
	cert, err := cfg.resolveTLS()
	if err != nil {
		return nil, err
	}

	srv.Addr = addr
	fillTimeouts(srv)
	if srv.Handler == nil {
		srv.Handler = http.NotFoundHandler()
	}
	if cfg.health != nil {
		health := cfg.health
		if !cfg.detail {
			health = terseHealth{h: health}
		}
		srv.Handler = &healthHandler{health: health, next: srv.Handler}
	}
	requests := &inflight{next: srv.Handler}
	srv.Handler = requests
	if cert != nil {
		tc := &tls.Config{}
		if srv.TLSConfig != nil {
			tc = srv.TLSConfig.Clone()
		}
		tc.Certificates = append(tc.Certificates, *cert)
		srv.TLSConfig = tc
	}
	if srv.ErrorLog == nil {
		srv.ErrorLog = slog.NewLogLogger(cfg.logger.Handler(), slog.LevelError)
	}
	name := cfg.name
	if name == "" {
		scheme := "http"
		if cert != nil {
			scheme = "https"
		}
		name = scheme + "(" + addr + ")"
	}
	return &Server{
		srv:      srv,
		requests: requests,
		addr:     addr,
		tls:      cert != nil,
		logger:   cfg.logger,
		name:     name,
		ready:    make(chan struct{}),
		drained:  make(chan struct{}),
	}, nil
}

// Run listens on the configured address, closes the [Server.Ready] channel
// and serves until the Server is halted. It returns nil once a [Server.Halt]
// has ended, gracefully or not: Halt reports how the drain went.
//
// A listen failure, such as a port already in use, returns at once with an
// error naming the address; so does an unexpected failure to accept
// connections, after closing the server. Run after Halt returns nil at once
// without listening; Run while running, or after a Run that failed,
// returns [ErrAlreadyStarted].
//
// Cancelling ctx closes the server at once, as a Halt whose deadline has
// passed: the listener and every connection are closed, in-flight requests
// are cut. Run then returns an error wrapping ctx.Err(), or nil if Halt
// had been called. Use Halt to stop gracefully; a flex service cancels ctx
// only after Halt has returned.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.halted {
		s.mu.Unlock()
		return nil
	}
	if s.started {
		s.mu.Unlock()
		return ErrAlreadyStarted
	}
	s.started = true
	s.mu.Unlock()

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("flexhttp: cannot listen on %s: %w", s.addr, err)
	}
	bound := ln.Addr().String()
	s.mu.Lock()
	if s.halted { // halted while binding: nothing was served
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.bound = bound
	s.mu.Unlock()
	s.log().Info("flexhttp: listening", "server", s.String(), "addr", bound)
	close(s.ready)

	stop := context.AfterFunc(ctx, func() { s.closeOnCancel(ctx) })
	defer stop()
	if s.tls {
		err = s.srv.ServeTLS(ln, "", "") // the certificate is in TLSConfig
	} else {
		err = s.srv.Serve(ln)
	}
	if !errors.Is(err, http.ErrServerClosed) {
		s.srv.Close()
		return fmt.Errorf("flexhttp: %s stopped serving: %w", s, err)
	}

	// Serve returns as soon as Shutdown begins; wait for the drain to end.
	select {
	case <-s.drained:
		return nil
	default:
	}
	select {
	case <-s.drained:
		return nil
	case <-ctx.Done():
		s.closeOnCancel(ctx)
		if s.isHalted() {
			return nil // Halt reports that its drain was cut short
		}
		return fmt.Errorf("flexhttp: %s closed, connections force-closed: %w", s, ctx.Err())
	}
}

// closeOnCancel closes the server when Run's ctx is cancelled, recording
// first that a drain in progress was cut short.
func (s *Server) closeOnCancel(ctx context.Context) {
	if s.isHalted() {
		s.endDrain(fmt.Errorf("flexhttp: drain of %s cut short, connections force-closed: Run's context was cancelled: %w", s.listenAddr(), ctx.Err()))
	}
	s.srv.Close()
}

// Halt shuts the server down gracefully, as http.Server.Shutdown does: it
// closes the listener, so that new connections are refused, closes idle
// keep-alive connections, and waits for in-flight requests to complete and
// their connections to go idle and close. It then returns nil, and Run
// returns nil.
//
// If ctx is done before the drain ends (in a flex service: when the
// server's share of FLEX_SHUTDOWN_TIMEOUT ends), Halt closes the remaining
// connections at once (http.Server.Close) and returns, so that the workers
// halted after it keep their time. When a request being handled was cut,
// Halt returns an error saying how many, wrapping ctx.Err(). Connections
// whose request was still arriving, its header or its body not yet
// received (a slow or stalled client), are closed without error: their
// handler cannot have acted on a request it has not received, and their
// client sees the failure and can retry. A ctx that is already
// done still closes the listener and idle connections; Halt then returns
// nil if no request was in flight. If Run's own context is cancelled during
// the drain, Halt returns an error saying the drain was cut short.
//
// Halt is safe to call before Run (Run then returns nil without
// listening), without Run, concurrently with Run, and more than once. The
// first call drains; the others wait for the same drain, each until its
// own ctx is done, and return the same result. Shutdown hooks registered
// with http.Server.RegisterOnShutdown run once. Like
// http.Server.Shutdown, Halt does not wait for hijacked connections such as
// WebSockets. A halted Server cannot be run again.
func (s *Server) Halt(ctx context.Context) error {
	s.mu.Lock()
	first := !s.halted
	s.halted = true
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil // a later Run returns nil at once
	}
	if first {
		s.log().Info("flexhttp: draining", "server", s.String())
		err := s.srv.Shutdown(ctx)
		if err != nil && ctx.Err() != nil {
			return s.abandon(ctx)
		}
		if err != nil {
			err = fmt.Errorf("flexhttp: halt %s: %w", s.listenAddr(), err)
		}
		s.endDrain(err)
		if err = s.drainErr; err == nil {
			s.log().Info("flexhttp: drained", "server", s.String())
		}
		return err
	}
	select {
	case <-s.drained:
		return s.drainErr
	default:
	}
	select {
	case <-s.drained:
		return s.drainErr
	case <-ctx.Done():
		return s.abandon(ctx)
	}
}

// abandon ends a drain whose deadline has passed by closing the connections
// still open. Cutting a request that was being worked on is an error; a
// connection whose request was still arriving (a slow or stalled client:
// its header, or its body, not yet received) loses nothing by being
// closed, so a drain that cuts only those is clean. It records the outcome
// before closing the connections: once they are closed, a Halt still
// draining sees the server idle and would otherwise record a clean drain.
func (s *Server) abandon(ctx context.Context) error {
	if n := s.requests.working(); n > 0 {
		s.record(fmt.Errorf("flexhttp: drain of %s abandoned at deadline, %d requests cut, connections force-closed: %w", s.listenAddr(), n, ctx.Err()))
		s.log().Warn("flexhttp: drain abandoned at deadline, connections force-closed", "server", s.String(), "requests_cut", n, "error", ctx.Err())
	} else {
		s.record(nil)
		s.log().Warn("flexhttp: drain deadline passed; closed connections whose requests were still arriving", "server", s.String(),
			"requests_receiving", s.requests.receiving.Load())
	}
	s.srv.Close()
	s.endDrain(nil)
	return s.drainErr
}

// record records how the drain ended, the first time it is called.
func (s *Server) record(err error) {
	s.errOnce.Do(func() { s.drainErr = err })
}

// endDrain records how the drain ended, unless that was recorded already,
// and lets Run and waiting Halts return.
func (s *Server) endDrain(err error) {
	s.record(err)
	s.drainOnce.Do(func() { close(s.drained) })
}

// Ready returns a channel that is closed once Run is listening, so that
// [Server.Addr] is known and connections are accepted. It is never closed
// if Run fails to listen or is not called.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the address the Server is listening on, once [Server.Ready]
// is closed, with a port of 0 resolved to the port actually bound (for
// ":0", the host is the unspecified address, as in "[::]:41234"). Before
// that it returns "". It keeps returning the address after Halt.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bound
}

// String names the Server after its scheme and configured address, as
// "http(:8080)" or "https(127.0.0.1:8443)", unless [WithName] named it.
func (s *Server) String() string { return s.name }

// listenAddr is the address listened on, once known, else the configured
// one: errors name ":0" by the port actually bound.
func (s *Server) listenAddr() string {
	if a := s.Addr(); a != "" {
		return a
	}
	return s.addr
}

func (s *Server) isHalted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.halted
}

func (s *Server) log() *slog.Logger { return s.logger }
