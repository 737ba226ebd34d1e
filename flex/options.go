package flex

import (
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// Environment variables read by [New]. An option given in code takes
// precedence over the environment, which takes precedence over the default.
const (
	// EnvShutdownTimeout bounds the halting of all workers together, as a Go
	// duration ("15s"). It must be positive. Default [DefaultShutdownTimeout].
	EnvShutdownTimeout = "FLEX_SHUTDOWN_TIMEOUT"

	// EnvShutdownDelay is how long workers keep serving, with readiness
	// already failing, before halting begins, as a Go duration. It must not
	// be negative. Default [DefaultKubernetesShutdownDelay] when
	// KUBERNETES_SERVICE_HOST is set, else 0.
	EnvShutdownDelay = "FLEX_SHUTDOWN_DELAY"

	// EnvShutdownReserve is the part of FLEX_SHUTDOWN_TIMEOUT kept back for
	// each worker still to be halted, as a Go duration, so that a slow Halt
	// cannot starve the workers halted after it. It must be positive, and
	// the reserves of the workers after the first halted must leave it some
	// time. Default: the timeout divided by twice the number of workers.
	EnvShutdownReserve = "FLEX_SHUTDOWN_RESERVE"
)

// Defaults. Together they fit inside the 30 s terminationGracePeriodSeconds
// that Kubernetes gives a pod by default, with 5 s to spare for the process
// to exit before the kubelet sends SIGKILL.
const (
	DefaultShutdownTimeout = 20 * time.Second

	// DefaultKubernetesShutdownDelay gives the endpoints controller and
	// kube-proxy (or the ingress) time to stop routing new requests to a pod
	// after it receives SIGTERM; without it, requests still arriving are
	// refused by a server that has already closed its listener.
	DefaultKubernetesShutdownDelay = 5 * time.Second

	// DefaultCheckTimeout bounds each health check that sets no Timeout.
	DefaultCheckTimeout = 2 * time.Second
)

// Option configures a [Service].
type Option func(*config)

type config struct {
	logger          *slog.Logger
	shutdownTimeout *time.Duration
	shutdownDelay   *time.Duration
	shutdownReserve *time.Duration // nil: timeout / (2 × workers), known at Start
	reserveSource   string         // where shutdownReserve came from, as written, for errors
	signals         []os.Signal
	observers       []Observer
	readiness       []Check
	liveness        []Check
	exit            func(code int) // os.Exit, replaced in tests
}

// WithLogger sets the logger for lifecycle events. Nil, the default, means
// slog.Default(), read by [New]: a later slog.SetDefault does not change
// the logger of a Service already built.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithShutdownTimeout overrides FLEX_SHUTDOWN_TIMEOUT.
func WithShutdownTimeout(d time.Duration) Option {
	return func(c *config) { c.shutdownTimeout = &d }
}

// WithShutdownDelay overrides FLEX_SHUTDOWN_DELAY.
func WithShutdownDelay(d time.Duration) Option {
	return func(c *config) { c.shutdownDelay = &d }
}

// WithShutdownReserve overrides FLEX_SHUTDOWN_RESERVE: the time kept back
// from the shutdown timeout for each worker still to be halted. See
// [Service.Start] for how the timeout is shared.
func WithShutdownReserve(d time.Duration) Option {
	return func(c *config) { c.shutdownReserve = &d }
}

// WithSignals sets the signals that trigger shutdown, SIGINT and SIGTERM by
// default. WithSignals() with no arguments disables signal handling, for a
// service embedded in a program that handles signals itself.
func WithSignals(sig ...os.Signal) Option {
	return func(c *config) { c.signals = sig }
}

// WithObserver adds an observer of lifecycle events. It may be given more
// than once; observers are called in the order given.
func WithObserver(o Observer) Option {
	return func(c *config) { c.observers = append(c.observers, o) }
}

// WithReadinessCheck adds a check to /readyz.
func WithReadinessCheck(c Check) Option {
	return func(cfg *config) { cfg.readiness = append(cfg.readiness, c) }
}

// WithLivenessCheck adds a check to /livez. Keep liveness checks about the
// process itself (a deadlock, a corrupt state), never about dependencies: a
// failing liveness check makes Kubernetes restart the pod.
func WithLivenessCheck(c Check) Option {
	return func(cfg *config) { cfg.liveness = append(cfg.liveness, c) }
}

func newConfig(opts []Option) (config, error) {
	c := config{
		signals: []os.Signal{syscall.SIGINT, syscall.SIGTERM},
		exit:    os.Exit,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	timeout, err := resolveDuration(c.shutdownTimeout, "WithShutdownTimeout", EnvShutdownTimeout, DefaultShutdownTimeout, false)
	if err != nil {
		return c, err
	}
	delay, err := resolveDuration(c.shutdownDelay, "WithShutdownDelay", EnvShutdownDelay, defaultShutdownDelay(), true)
	if err != nil {
		return c, err
	}
	c.shutdownTimeout, c.shutdownDelay = &timeout, &delay
	if c.shutdownReserve != nil || os.Getenv(EnvShutdownReserve) != "" {
		reserve, err := resolveDuration(c.shutdownReserve, "WithShutdownReserve", EnvShutdownReserve, 0, false)
		if err != nil {
			return c, err
		}
		if c.shutdownReserve != nil {
			c.reserveSource = fmt.Sprintf("WithShutdownReserve %q", c.shutdownReserve.String())
		} else {
			c.reserveSource = fmt.Sprintf("%s %q", EnvShutdownReserve, os.Getenv(EnvShutdownReserve))
		}
		c.shutdownReserve = &reserve
	}
	for _, ch := range append(c.readiness, c.liveness...) {
		if ch.Name == "" || ch.Func == nil {
			return c, fmt.Errorf("flex: invalid health check %q: a check needs a name and a func", ch.Name)
		}
	}
	return c, nil
}

// reserve returns the time kept back for each worker still to be halted
// when n workers are started, or an error when the reserves of the n-1
// workers halted after the first would leave it no time.
func (c *config) reserve(n int) (time.Duration, error) {
	timeout := *c.shutdownTimeout
	if c.shutdownReserve == nil {
		return timeout / time.Duration(2*n), nil
	}
	r := *c.shutdownReserve
	if later := time.Duration(n - 1); later > 0 && r >= timeout/later {
		return 0, fmt.Errorf("flex: invalid %s: the reserves of the %d workers halted after the first would take all of the %v shutdown timeout",
			c.reserveSource, n-1, timeout)
	}
	return r, nil
}

func defaultShutdownDelay() time.Duration {
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return DefaultKubernetesShutdownDelay
	}
	return 0
}

// resolveDuration applies the precedence option, then environment, then default.
func resolveDuration(opt *time.Duration, optName, env string, def time.Duration, zeroOK bool) (time.Duration, error) {
	d, source, raw := def, "", ""
	switch {
	case opt != nil:
		d, source, raw = *opt, optName, opt.String()
	case os.Getenv(env) != "":
		raw = os.Getenv(env)
		parsed, err := time.ParseDuration(raw)
		if err != nil {
			return 0, fmt.Errorf("flex: invalid %s %q: want a Go duration such as \"15s\"", env, raw)
		}
		d, source = parsed, env
	}
	if d < 0 || (d == 0 && !zeroOK) {
		want := "positive"
		if zeroOK {
			want = "zero or positive"
		}
		return 0, fmt.Errorf("flex: invalid %s %q: must be %s", source, raw, want) // raw: as the user wrote it
	}
	return d, nil
}
