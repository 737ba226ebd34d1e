package flexhttp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"time"
)

// Environment variables read by [New], unless [WithoutEnv] is given. An
// option given in code takes precedence over the environment, which takes
// precedence over the default.
const (
	// EnvAddr is the address to listen on, as host:port (":8080",
	// "127.0.0.1:9000", ":0" for any free port). It takes precedence over
	// [EnvPort]; [WithAddr] takes precedence over it.
	EnvAddr = "FLEX_HTTP_ADDR"

	// EnvPort is the port number to listen on, on all interfaces, as set by
	// Cloud Run, Heroku and other platforms: "8080" means ":8080". It is
	// read only when [EnvAddr] is not set.
	EnvPort = "PORT"

	// EnvTLSCertFile is the PEM certificate file to serve HTTPS with. It
	// must be set together with [EnvTLSKeyFile]; [WithTLS] overrides both.
	EnvTLSCertFile = "FLEX_HTTP_TLS_CERT_FILE"

	// EnvTLSKeyFile is the PEM private key file matching [EnvTLSCertFile].
	EnvTLSKeyFile = "FLEX_HTTP_TLS_KEY_FILE"
)

// Defaults applied by [New]. A timeout is filled in only when the caller's
// http.Server leaves it at zero; a negative timeout means "no timeout" to
// net/http and is left alone.
const (
	// DefaultAddr is the address used when no option, environment variable
	// or http.Server.Addr gives one.
	DefaultAddr = ":8080"

	// DefaultReadHeaderTimeout bounds reading a request's headers, which
	// protects the server against slow-header (Slowloris) clients. When the
	// caller sets a shorter ReadTimeout, that is used instead, as net/http
	// itself does.
	DefaultReadHeaderTimeout = 10 * time.Second

	// DefaultReadTimeout bounds reading a whole request, body included.
	DefaultReadTimeout = 30 * time.Second

	// DefaultWriteTimeout bounds the time from the end of reading the
	// request headers to the end of writing the response: it caps how long
	// a handler may take. Set a longer or negative WriteTimeout on the
	// http.Server for streaming or long-polling handlers.
	DefaultWriteTimeout = 30 * time.Second

	// DefaultIdleTimeout bounds how long a keep-alive connection waits for
	// the next request. It is longer than the 60 s idle timeout of common
	// load balancers, so that the server does not close a connection the
	// balancer is about to reuse.
	DefaultIdleTimeout = 120 * time.Second
)

// Option configures a [Server] built by [New].
type Option func(*config)

type config struct {
	addr   *string // WithAddr
	tls    *tlsFiles
	health http.Handler
	detail bool // WithHealthDetail(true)
	logger *slog.Logger
	name   string // WithName
	noEnv  bool
}

type tlsFiles struct{ cert, key string }

// WithAddr sets the address to listen on, as host:port. It overrides
// FLEX_HTTP_ADDR, PORT and http.Server.Addr. Use "127.0.0.1:0" in tests
// to listen on a free loopback port, then read it with [Server.Addr].
func WithAddr(addr string) Option { return func(c *config) { c.addr = &addr } }

// WithTLS makes the server serve HTTPS with the certificate and private key
// in the given PEM files, which [New] loads to check them. It overrides
// FLEX_HTTP_TLS_CERT_FILE and FLEX_HTTP_TLS_KEY_FILE. Both files must be
// given; WithTLS("", "") turns TLS off whatever the environment says.
//
// The http.Server's own TLSConfig, if any, is kept (cloned, not modified)
// and the certificate is added to it.
func WithTLS(certFile, keyFile string) Option {
	return func(c *config) { c.tls = &tlsFiles{cert: certFile, key: keyFile} }
}

// WithHealth serves h, typically a service's *flex.Health, at the paths
// /livez and /readyz, in front of the server's handler, which still serves
// every other path. It costs one comparison of the path per request.
// Without WithHealth, or with WithHealth(nil), the server's handler is used
// as it is. A non-nil interface holding a nil pointer or func, such as a
// nil *flex.Health, would panic on the first probe: [New] refuses it.
//
// The answers are terse unless [WithHealthDetail] is on: h's status code,
// and a JSON body holding only the overall status and each check's name
// and status,
//
//	{"status":"fail","checks":[{"name":"shutdown","status":"ok"},{"name":"database","status":"fail"}]}
//
// A failing check's error text (a database's host name, an SQL state, a
// file path) is left out, and so are h's headers: a public server tells
// anyone who asks whether it is ready, not why not. Serve the detail on
// the operations port (flexmetrics does by default).
func WithHealth(h http.Handler) Option {
	return func(c *config) { c.health = h }
}

// WithHealthDetail(true) makes [WithHealth] serve h's answers as they are,
// error texts included, for a server that only operators reach.
// WithHealthDetail(false), the default, serves the terse form.
func WithHealthDetail(on bool) Option { return func(c *config) { c.detail = on } }

// WithLogger sets the logger for the server's lifecycle (listening,
// draining, drained). Nil, the default, means slog.Default(), read by
// [New]. When the http.Server's ErrorLog is nil, net/http's own errors
// (such as TLS handshake failures) are logged to it too, at level Error.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithName names the server in its logs and errors and in those of a flex
// service ([Server.String]), as "kind(address)" by convention: flexmetrics
// names its operations server "metrics(:9090)". Empty, the default, means
// the scheme and the configured address: "http(:8080)", "https(:8443)".
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithoutEnv makes [New] ignore FLEX_HTTP_ADDR, PORT,
// FLEX_HTTP_TLS_CERT_FILE and FLEX_HTTP_TLS_KEY_FILE, for a server whose
// address is configured by other means, such as a metrics server with its
// own variable.
func WithoutEnv() Option { return func(c *config) { c.noEnv = true } }

// newConfig applies opts, then reads the environment.
func newConfig(opts []Option) (config, error) {
	var c config
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	if c.health != nil && isNil(c.health) {
		return c, fmt.Errorf("flexhttp: invalid WithHealth: %w", fmt.Errorf("nil %T", c.health))
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c, nil
}

func (c *config) getenv(key string) string {
	if c.noEnv {
		return ""
	}
	return os.Getenv(key)
}

// resolveAddr applies the precedence WithAddr, FLEX_HTTP_ADDR, PORT,
// http.Server.Addr, DefaultAddr, and validates the result.
func (c *config) resolveAddr(serverAddr string) (string, error) {
	switch {
	case c.addr != nil:
		return checkAddr("WithAddr", *c.addr)
	case c.getenv(EnvAddr) != "":
		return checkAddr(EnvAddr, c.getenv(EnvAddr))
	case c.getenv(EnvPort) != "":
		port := c.getenv(EnvPort)
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return "", fmt.Errorf("flexhttp: invalid %s %q: want a port number from 0 to 65535", EnvPort, port)
		}
		return ":" + port, nil
	case serverAddr != "":
		return checkAddr("http.Server.Addr", serverAddr)
	}
	return DefaultAddr, nil
}

// checkAddr reports whether addr is a valid TCP listen address, naming
// source in the error, which wraps the reason alone (flexmetrics unwraps
// it to name its own source). The host is not resolved: that happens on
// Listen.
func checkAddr(source, addr string) (string, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		reason := err.Error()
		var addrErr *net.AddrError
		if errors.As(err, &addrErr) {
			reason = addrErr.Err
		}
		return "", fmt.Errorf("flexhttp: invalid %s %q: %w", source, addr, errors.New(reason))
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("flexhttp: invalid %s %q: %w", source, addr, fmt.Errorf("port %q is not a number from 0 to 65535", port))
	}
	return addr, nil
}

// resolveTLS applies the precedence WithTLS, then the environment, and
// loads the key pair. It returns nil when TLS is off.
func (c *config) resolveTLS() (*tls.Certificate, error) {
	files, certName, keyName := c.tls, "WithTLS certFile", "WithTLS keyFile"
	if files == nil {
		files = &tlsFiles{cert: c.getenv(EnvTLSCertFile), key: c.getenv(EnvTLSKeyFile)}
		certName, keyName = EnvTLSCertFile, EnvTLSKeyFile
	}
	switch {
	case files.cert == "" && files.key == "":
		return nil, nil
	case files.key == "":
		return nil, fmt.Errorf("flexhttp: invalid TLS configuration: %s %q is set but %s is empty; set both or neither", certName, files.cert, keyName)
	case files.cert == "":
		return nil, fmt.Errorf("flexhttp: invalid TLS configuration: %s %q is set but %s is empty; set both or neither", keyName, files.key, certName)
	}
	cert, err := tls.LoadX509KeyPair(files.cert, files.key)
	if err != nil {
		return nil, fmt.Errorf("flexhttp: invalid TLS key pair %s %q, %s %q: %w", certName, files.cert, keyName, files.key, err)
	}
	return &cert, nil
}

// fillTimeouts sets the timeouts srv leaves at zero to the defaults.
func fillTimeouts(srv *http.Server) {
	if srv.ReadHeaderTimeout == 0 {
		srv.ReadHeaderTimeout = DefaultReadHeaderTimeout
		if srv.ReadTimeout > 0 && srv.ReadTimeout < DefaultReadHeaderTimeout {
			srv.ReadHeaderTimeout = srv.ReadTimeout
		}
	}
	if srv.ReadTimeout == 0 {
		srv.ReadTimeout = DefaultReadTimeout
	}
	if srv.WriteTimeout == 0 {
		srv.WriteTimeout = DefaultWriteTimeout
	}
	if srv.IdleTimeout == 0 {
		srv.IdleTimeout = DefaultIdleTimeout
	}
}

// isNil reports whether h is nil or holds a nil pointer, func, map or
// channel, which would panic on the first request.
func isNil(h http.Handler) bool {
	if h == nil {
		return true
	}
	switch v := reflect.ValueOf(h); v.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Chan, reflect.Interface, reflect.Slice:
		return v.IsNil()
	}
	return false
}
