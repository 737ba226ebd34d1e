package flexmetrics

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexhttp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var (
	_ flex.Worker  = (*Server)(nil)
	_ flex.Readier = (*Server)(nil)
)

// Server is the operations server of a service, separate from its public
// server: it serves Prometheus metrics at FLEX_METRICS_PATH (/metrics), the
// profiling endpoints of net/http/pprof under /debug/pprof/ unless switched
// off, and /livez and /readyz when given the service's health handler, on
// FLEX_METRICS_ADDR (:9090).
//
// A Server is a flex.Worker run by a flexhttp.Server, which listens in Run
// and drains in Halt; it is also a flex.Readier (ready once listening) and
// a fmt.Stringer ("metrics(:9090)"). Build one with [New]. Its methods are
// safe for concurrent use. A Server runs once: after Halt it cannot be run
// again.
type Server struct {
	http     *flexhttp.Server
	reg      *prometheus.Registry
	handler  http.Handler
	addr     string
	halting  chan struct{} // closed by the first Halt: ends profiles in progress
	haltOnce sync.Once
}

// New returns a Server configured by opts, then by the environment
// (FLEX_METRICS_ADDR, FLEX_METRICS_PATH, FLEX_METRICS_PPROF,
// FLEX_METRICS_PPROF_MAX_DURATION), then by defaults. An invalid setting
// returns an error naming it, where it came from and its value, such as
//
//	flexmetrics: invalid FLEX_METRICS_PPROF "maybe": want true or false
//
// before anything listens. The FLEX_HTTP_* variables of the public server
// do not apply to it. Without [WithRegistry], each Server has its own
// registry from [NewRegistry]: two Servers built from defaults share
// nothing.
func New(opts ...Option) (*Server, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	reg := cfg.registry
	if reg == nil {
		reg = NewRegistry()
	}
	s := &Server{reg: reg, addr: cfg.addr, halting: make(chan struct{})}

	mux := http.NewServeMux()
	mux.Handle("GET "+cfg.path, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      scrapeLog{cfg.logger},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	if cfg.pprof {
		(&profiler{max: cfg.pprofMax, halting: s.halting}).register(mux)
	}
	srv := cfg.server
	if srv == nil {
		srv = &http.Server{}
	}
	srv.Handler = mux
	if srv.WriteTimeout == 0 {
		srv.WriteTimeout = cfg.pprofMax + WriteTimeoutMargin
	}
	hopts := []flexhttp.Option{flexhttp.WithAddr(cfg.addr), flexhttp.WithoutEnv(), flexhttp.WithLogger(cfg.logger), flexhttp.WithName(s.String())}
	if cfg.health != nil {
		hopts = append(hopts, flexhttp.WithHealth(cfg.health), flexhttp.WithHealthDetail(cfg.detail))
	}
	s.http, err = flexhttp.New(srv, hopts...)
	if err != nil {
		return nil, fmt.Errorf("flexmetrics: %w", err)
	}
	if cfg.health != nil {
		if err := registerReady(reg, cfg.health); err != nil {
			return nil, err // after every other check: nothing to undo
		}
	}
	s.handler = srv.Handler
	return s, nil
}

// Run listens on the configured address, closes the [Server.Ready] channel
// and serves until the Server is halted; it returns nil once a Halt has
// ended. A listen failure, such as a port already in use, returns at once
// with an error naming the address. Run after Halt returns nil at once
// without listening; a second Run while running returns an error.
//
// Cancelling ctx closes the server at once, cutting requests in flight
// (profiles included); Run then returns an error wrapping ctx.Err(), or nil
// if Halt had been called. See flexhttp.Server.Run.
func (s *Server) Run(ctx context.Context) error { return s.http.Run(ctx) }

// Halt shuts the server down gracefully: it ends the CPU profiles and
// traces in progress at once (they answer with what they have recorded so
// far), stops accepting connections and waits for the requests in flight to
// complete, then returns nil, and Run returns nil.
//
// If ctx is done first, Halt closes the remaining connections and returns
// an error wrapping ctx.Err(). Halt reads nothing from ctx but its deadline
// and cancellation: any context works, context.Background() included. It is
// safe to call before Run (Run then returns nil without listening), without
// Run, concurrently with Run and more than once, each call waiting for the
// same drain under its own ctx. A halted Server cannot be run again.
func (s *Server) Halt(ctx context.Context) error {
	s.haltOnce.Do(func() { close(s.halting) })
	return s.http.Halt(ctx)
}

// Ready returns a channel that is closed once Run is listening. It is never
// closed if Run fails to listen or is not called.
func (s *Server) Ready() <-chan struct{} { return s.http.Ready() }

// Addr returns the address the Server listens on once [Server.Ready] is
// closed, with port 0 resolved to the port bound, and "" before.
func (s *Server) Addr() string { return s.http.Addr() }

// String names the Server after its configured address, as
// "metrics(:9090)", in the logs, errors, health checks and lifecycle
// metrics of a flex service.
func (s *Server) String() string { return "metrics(" + s.addr + ")" }

// Registry returns the registry the Server serves. Register the
// application's collectors on it, and give it to [NewMiddleware] and
// [NewObserver], to have them served.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Handler returns the handler the Server serves: metrics, profiling and
// health, as configured. It lets tests and programs with their own listener
// reach the endpoints without Run.
func (s *Server) Handler() http.Handler { return s.handler }

// scrapeLog logs the errors of gathering metrics.
type scrapeLog struct{ l *slog.Logger }

func (s scrapeLog) Println(v ...any) {
	s.l.Error("flexmetrics: gathering metrics", "error", fmt.Sprint(v...))
}
