package flexmetrics

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	pathpkg "path"
	"strconv"
	"strings"
	"time"

	"github.com/go-flexible/flexible/flexhttp"
	"github.com/prometheus/client_golang/prometheus"
)

// Environment variables read by [New]. An option given in code takes
// precedence over the environment, which takes precedence over the default.
const (
	// EnvAddr is the address the operations server listens on, as
	// "host:port" (":9090", "127.0.0.1:9090"). Default [DefaultAddr].
	EnvAddr = "FLEX_METRICS_ADDR"

	// EnvPath is the path metrics are served at. It must start with "/",
	// must not end with "/" and must not be a path the server uses for
	// something else (/livez, /readyz, /debug/pprof/...). Default
	// [DefaultPath].
	EnvPath = "FLEX_METRICS_PATH"

	// EnvPprof switches the /debug/pprof/ endpoints on or off, as a Go
	// boolean ("true", "false", "1", "0"). Default true: profiles taken in
	// production are how its CPU and memory problems are found, and the
	// operations port is meant for the cluster network, not the internet
	// (a Kubernetes Service exposes the public port, not this one). The
	// cost anyone reaching the port can impose is bounded: one CPU profile
	// and one trace at a time (another is refused with 429), each at most
	// [EnvPprofMaxDuration]. The endpoints reveal the command line,
	// function names and stack traces: switch them off, or listen on
	// 127.0.0.1 only, where others can reach the port.
	EnvPprof = "FLEX_METRICS_PPROF"

	// EnvPprofMaxDuration is the longest CPU profile or execution trace
	// the server takes, as a Go duration of at least one second ("30s").
	// A request for longer is refused with 400. Default
	// [DefaultPprofMaxDuration].
	EnvPprofMaxDuration = "FLEX_METRICS_PPROF_MAX_DURATION"
)

// Defaults.
const (
	// DefaultAddr is the address the operations server listens on by
	// default: every interface, on a port apart from the public server's
	// 8080, so that a Kubernetes Service can expose one and not the other.
	DefaultAddr = ":9090"

	// DefaultPath is where metrics are served by default, where Prometheus
	// scrapes unless told otherwise.
	DefaultPath = "/metrics"

	// DefaultPprofMaxDuration is the longest CPU profile or trace by
	// default. A CPU profile requested without seconds lasts 30 s, or the
	// max when that is shorter; a trace lasts 1 s.
	DefaultPprofMaxDuration = 30 * time.Second

	// WriteTimeoutMargin is what the server's WriteTimeout exceeds the pprof
	// max duration by when [New] sets it, leaving time to write the profile
	// once it has been taken.
	WriteTimeoutMargin = 10 * time.Second
)

// Option configures a [Server].
type Option func(*config)

type config struct {
	addr     *string
	path     *string
	pprof    *bool
	pprofMax *time.Duration
	registry *prometheus.Registry
	logger   *slog.Logger
	server   *http.Server
	health   http.Handler
	detail   *bool
	noEnv    bool
}

// WithAddr sets the address to listen on, overriding FLEX_METRICS_ADDR and
// the Addr of the server given to [WithServer] (which comes after
// FLEX_METRICS_ADDR, as http.Server.Addr does in flexhttp). Use "127.0.0.1:0" in tests
// for a free port, then [Server.Addr] once ready.
func WithAddr(addr string) Option { return func(c *config) { c.addr = &addr } }

// WithPath sets the path metrics are served at, overriding
// FLEX_METRICS_PATH. See [EnvPath] for what is valid.
func WithPath(path string) Option { return func(c *config) { c.path = &path } }

// WithPprof switches the /debug/pprof/ endpoints on or off, overriding
// FLEX_METRICS_PPROF.
func WithPprof(on bool) Option { return func(c *config) { c.pprof = &on } }

// WithPprofMaxDuration sets the longest CPU profile or trace the server
// takes, overriding FLEX_METRICS_PPROF_MAX_DURATION. See
// [EnvPprofMaxDuration].
func WithPprofMaxDuration(d time.Duration) Option {
	return func(c *config) { c.pprofMax = &d }
}

// WithRegistry sets the registry whose metrics are served. Nil, the
// default, means a new private registry from [NewRegistry], holding the Go
// and process collectors. A registry given here is served as it is: add
// those collectors to it yourself if you want them (the Prometheus default
// registry, prometheus.DefaultRegisterer.(*prometheus.Registry), has them).
func WithRegistry(reg *prometheus.Registry) Option {
	return func(c *config) { c.registry = reg }
}

// WithLogger sets the logger for the server's own events and errors. Nil,
// the default, means slog.Default(), read by [New].
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithServer makes the operations server use srv, with its timeouts, TLS
// configuration, limits and hooks, instead of a new http.Server. Its
// Handler must be nil: [New] sets it to the operations mux. Its Addr, when
// not empty, is used when neither [WithAddr] nor FLEX_METRICS_ADDR is given.
// A zero WriteTimeout is set to the pprof max duration plus
// [WriteTimeoutMargin]; a positive one must exceed the pprof max duration
// when pprof is on. The other timeouts left at zero get flexhttp's
// defaults. srv belongs to the Server from then on: do not use it
// elsewhere.
func WithServer(srv *http.Server) Option { return func(c *config) { c.server = srv } }

// WithHealth mounts h at /livez and /readyz (any method), typically the
// *flex.Health of the service (svc.Health()), which answers by the last
// path element. Nil, the default, mounts nothing.
//
// The operations server serves h's answers as they are, each failing
// check's error text included, for the operators and probes that reach
// its port; the public server (flexhttp.WithHealth) answers tersely. See
// [WithHealthDetail].
//
// When h is a *flex.Health (it has a Ready(ctx) bool method), the registry
// also gets the gauge flex_ready: 1 when /readyz would answer 200, checked
// at each scrape, so that Prometheus sees readiness flap. [New] then returns
// the registry's error if flex_ready is already registered on it.
func WithHealth(h http.Handler) Option { return func(c *config) { c.health = h } }

// WithHealthDetail(false) makes the server answer /livez and /readyz
// tersely, as flexhttp.WithHealth does by default: the status code, the
// overall status and each check's name and status, without error texts.
// Use it when the operations port is reachable by more than its operators.
// The default, true, serves the detail.
func WithHealthDetail(on bool) Option { return func(c *config) { c.detail = &on } }

// WithoutEnv makes [New] ignore the FLEX_METRICS_* environment variables,
// for a server whose configuration comes from code alone.
func WithoutEnv() Option { return func(c *config) { c.noEnv = true } }

// settings is a config resolved by precedence and validated.
type settings struct {
	addr     string
	path     string
	pprof    bool
	pprofMax time.Duration
	registry *prometheus.Registry
	logger   *slog.Logger
	server   *http.Server
	health   http.Handler
	detail   bool
}

func newConfig(opts []Option) (settings, error) {
	var c config
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	env := func(name string) string {
		if c.noEnv {
			return ""
		}
		return os.Getenv(name)
	}
	s := settings{registry: c.registry, logger: c.logger, server: c.server, health: c.health, detail: c.detail == nil || *c.detail}
	if s.logger == nil {
		s.logger = slog.Default()
	}

	// As in flexhttp, the environment beats the Addr of the caller's
	// server: deployment has the last word over a value written in code.
	addr, source := resolve(DefaultAddr, env, EnvAddr, option{c.addr, "WithAddr"})
	if source == "default" && c.server != nil && c.server.Addr != "" {
		addr, source = c.server.Addr, "WithServer Addr"
	}
	// flexhttp owns the rules for listen addresses and health handlers: a
	// server it builds (New listens on nothing) checks them, and the error
	// names our source around the reason flexhttp's error wraps.
	if _, err := flexhttp.New(nil, flexhttp.WithoutEnv(), flexhttp.WithAddr(addr)); err != nil {
		return s, fmt.Errorf("flexmetrics: invalid %s %q: %w", source, addr, errors.Unwrap(err))
	}
	s.addr = addr

	path, source := resolve(DefaultPath, env, EnvPath, option{c.path, "WithPath"})
	if err := validatePath(path); err != nil {
		return s, fmt.Errorf("flexmetrics: invalid %s %q: %w", source, path, err)
	}
	s.path = path

	s.pprof = true
	switch raw := env(EnvPprof); {
	case c.pprof != nil:
		s.pprof = *c.pprof
	case raw != "":
		on, err := strconv.ParseBool(raw)
		if err != nil {
			return s, fmt.Errorf("flexmetrics: invalid %s %q: want true or false", EnvPprof, raw)
		}
		s.pprof = on
	}

	s.pprofMax, source = DefaultPprofMaxDuration, "default"
	written := "" // the value as given, for errors: "0", not "0s"
	switch raw := env(EnvPprofMaxDuration); {
	case c.pprofMax != nil:
		s.pprofMax, source, written = *c.pprofMax, "WithPprofMaxDuration", c.pprofMax.String()
	case raw != "":
		d, err := time.ParseDuration(raw)
		if err != nil {
			return s, fmt.Errorf("flexmetrics: invalid %s %q: want a Go duration such as \"30s\"", EnvPprofMaxDuration, raw)
		}
		s.pprofMax, source, written = d, EnvPprofMaxDuration, raw
	}
	if s.pprofMax < time.Second {
		return s, fmt.Errorf("flexmetrics: invalid %s %q: must be at least 1s", source, written)
	}

	if _, err := flexhttp.New(nil, flexhttp.WithoutEnv(), flexhttp.WithHealth(c.health)); err != nil {
		return s, fmt.Errorf("flexmetrics: invalid WithHealth: %w", errors.Unwrap(err))
	}
	if srv := c.server; srv != nil {
		if srv.Handler != nil {
			return s, fmt.Errorf("flexmetrics: invalid WithServer: Handler must be nil, the server serves its own mux (got %T)", srv.Handler)
		}
		if s.pprof && srv.WriteTimeout > 0 && srv.WriteTimeout <= s.pprofMax {
			return s, fmt.Errorf("flexmetrics: invalid WithServer WriteTimeout %v: must exceed the pprof max duration %v (or switch pprof off)", srv.WriteTimeout, s.pprofMax)
		}
	}
	return s, nil
}

// option is a setting given in code and the name it was given by.
type option struct {
	value *string
	name  string
}

// resolve applies the precedence options (in order), then environment, then
// default, and says where the value came from.
func resolve(def string, env func(string) string, envName string, opts ...option) (string, string) {
	for _, o := range opts {
		if o.value != nil {
			return *o.value, o.name
		}
	}
	if raw := env(envName); raw != "" {
		return raw, envName
	}
	return def, "default"
}

// reserved are the paths the server uses besides the metrics path.
var reserved = []string{"/livez", "/readyz", "/debug/pprof"}

func validatePath(path string) error {
	switch {
	case !strings.HasPrefix(path, "/"):
		return fmt.Errorf(`must start with "/"`)
	case len(path) > 1 && strings.HasSuffix(path, "/"), path == "/":
		return fmt.Errorf(`must not end with "/"`)
	case strings.ContainsAny(path, "{}?#% \t\r\n"):
		return fmt.Errorf("must be a plain path, without wildcards, query, fragment, escapes or spaces")
	case pathpkg.Clean(path) != path:
		return fmt.Errorf("must be a clean path (%q)", pathpkg.Clean(path))
	}
	for _, r := range reserved {
		if path == r || strings.HasPrefix(path, r+"/") {
			return fmt.Errorf("%s is reserved", r)
		}
	}
	return nil
}
