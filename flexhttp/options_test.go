package flexhttp_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexhttp"
)

// setenv sets FLEX_HTTP_ADDR and PORT for the test, "" meaning unset.
func setenv(t *testing.T, addr, port string) {
	t.Setenv(flexhttp.EnvAddr, addr)
	t.Setenv(flexhttp.EnvPort, port)
}

func TestAddrPrecedence(t *testing.T) {
	tests := []struct {
		name       string
		envAddr    string
		envPort    string
		serverAddr string
		opts       []flexhttp.Option
		want       string
	}{
		{name: "default", want: ":8080"},
		{name: "http.Server.Addr over default", serverAddr: ":7000", want: ":7000"},
		{name: "PORT over http.Server.Addr", envPort: "9000", serverAddr: ":7000", want: ":9000"},
		{name: "PORT 0", envPort: "0", want: ":0"},
		{name: "FLEX_HTTP_ADDR over PORT", envAddr: "127.0.0.1:9100", envPort: "9000", serverAddr: ":7000", want: "127.0.0.1:9100"},
		{name: "WithAddr over everything", envAddr: "127.0.0.1:9100", envPort: "9000", serverAddr: ":7000",
			opts: []flexhttp.Option{flexhttp.WithAddr("[::1]:9200")}, want: "[::1]:9200"},
		{name: "WithoutEnv ignores FLEX_HTTP_ADDR and PORT", envAddr: "127.0.0.1:9100", envPort: "9000",
			opts: []flexhttp.Option{flexhttp.WithoutEnv()}, want: ":8080"},
		{name: "WithoutEnv keeps http.Server.Addr", envAddr: "127.0.0.1:9100", serverAddr: ":7000",
			opts: []flexhttp.Option{flexhttp.WithoutEnv()}, want: ":7000"},
		{name: "WithoutEnv keeps WithAddr", envAddr: "127.0.0.1:9100",
			opts: []flexhttp.Option{flexhttp.WithoutEnv(), flexhttp.WithAddr(":9300")}, want: ":9300"},
		{name: "last WithAddr wins", opts: []flexhttp.Option{flexhttp.WithAddr(":1"), flexhttp.WithAddr(":2")}, want: ":2"},
		{name: "nil option ignored", opts: []flexhttp.Option{nil}, want: ":8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setenv(t, tt.envAddr, tt.envPort)
			srv := &http.Server{Addr: tt.serverAddr}
			s, err := flexhttp.New(srv, tt.opts...)
			if err != nil {
				t.Fatalf("New = %v", err)
			}
			if srv.Addr != tt.want {
				t.Errorf("srv.Addr = %q, want %q", srv.Addr, tt.want)
			}
			if got, want := s.String(), "http("+tt.want+")"; got != want {
				t.Errorf("String = %q, want %q", got, want)
			}
		})
	}
}

// PORT "0" listens on a free port, and Addr reports it.
func TestPortZeroFromEnv(t *testing.T) {
	setenv(t, "", "0")
	s, err := flexhttp.New(nil, flexhttp.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Addr(); got != "" {
		t.Errorf("Addr before Run = %q, want \"\"", got)
	}
	run(t, s)
	_, port, err := net.SplitHostPort(s.Addr())
	if err != nil || port == "0" || port == "" {
		t.Errorf("Addr = %q, want the bound port", s.Addr())
	}
	if got := get(newClient(t), "http://"+net.JoinHostPort("127.0.0.1", port)); got.code != http.StatusNotFound {
		t.Errorf("GET = %d, %v; want 404", got.code, got.err)
	}
}

func TestInvalidAddr(t *testing.T) {
	tests := []struct {
		name       string
		envAddr    string
		envPort    string
		serverAddr string
		opt        flexhttp.Option
		want       string
	}{
		{name: "FLEX_HTTP_ADDR without port", envAddr: "abc",
			want: `flexhttp: invalid FLEX_HTTP_ADDR "abc": missing port in address`},
		{name: "FLEX_HTTP_ADDR too many colons", envAddr: "1:2:3",
			want: `flexhttp: invalid FLEX_HTTP_ADDR "1:2:3": too many colons in address`},
		{name: "FLEX_HTTP_ADDR port too large", envAddr: ":99999",
			want: `flexhttp: invalid FLEX_HTTP_ADDR ":99999": port "99999" is not a number from 0 to 65535`},
		{name: "FLEX_HTTP_ADDR negative port", envAddr: "localhost:-1",
			want: `flexhttp: invalid FLEX_HTTP_ADDR "localhost:-1": port "-1" is not a number from 0 to 65535`},
		{name: "FLEX_HTTP_ADDR named port", envAddr: ":http",
			want: `flexhttp: invalid FLEX_HTTP_ADDR ":http": port "http" is not a number from 0 to 65535`},
		{name: "FLEX_HTTP_ADDR empty port", envAddr: "127.0.0.1:",
			want: `flexhttp: invalid FLEX_HTTP_ADDR "127.0.0.1:": port "" is not a number from 0 to 65535`},
		{name: "PORT not a number", envPort: "abc",
			want: `flexhttp: invalid PORT "abc": want a port number from 0 to 65535`},
		{name: "PORT with colon", envPort: ":8080",
			want: `flexhttp: invalid PORT ":8080": want a port number from 0 to 65535`},
		{name: "PORT too large", envPort: "65536",
			want: `flexhttp: invalid PORT "65536": want a port number from 0 to 65535`},
		{name: "WithAddr without port", opt: flexhttp.WithAddr("localhost"),
			want: `flexhttp: invalid WithAddr "localhost": missing port in address`},
		{name: "WithAddr empty", opt: flexhttp.WithAddr(""),
			want: `flexhttp: invalid WithAddr "": missing port in address`},
		{name: "http.Server.Addr without port", serverAddr: "example.com",
			want: `flexhttp: invalid http.Server.Addr "example.com": missing port in address`},
		{name: "WithAddr hides a bad FLEX_HTTP_ADDR", envAddr: "abc", opt: flexhttp.WithAddr(":x"),
			want: `flexhttp: invalid WithAddr ":x": port "x" is not a number from 0 to 65535`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setenv(t, tt.envAddr, tt.envPort)
			srv := &http.Server{Addr: tt.serverAddr}
			s, err := flexhttp.New(srv, tt.opt)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("New = %v, %v; want error %q", s, err, tt.want)
			}
			if srv.Addr != tt.serverAddr || srv.ReadTimeout != 0 {
				t.Errorf("New changed srv despite the error: %+v", srv)
			}
		})
	}
}

func TestTimeoutsFilledOnlyWhereZero(t *testing.T) {
	tests := []struct {
		name string
		srv  *http.Server
		want [4]time.Duration // ReadHeader, Read, Write, Idle
	}{
		{name: "zero server", srv: &http.Server{}, want: [4]time.Duration{
			flexhttp.DefaultReadHeaderTimeout, flexhttp.DefaultReadTimeout, flexhttp.DefaultWriteTimeout, flexhttp.DefaultIdleTimeout}},
		{name: "all set", srv: &http.Server{ReadHeaderTimeout: 1, ReadTimeout: 2, WriteTimeout: 3, IdleTimeout: 4},
			want: [4]time.Duration{1, 2, 3, 4}},
		{name: "negative means none and is kept", srv: &http.Server{ReadHeaderTimeout: -1, ReadTimeout: -1, WriteTimeout: -1, IdleTimeout: -1},
			want: [4]time.Duration{-1, -1, -1, -1}},
		{name: "write set", srv: &http.Server{WriteTimeout: time.Minute}, want: [4]time.Duration{
			flexhttp.DefaultReadHeaderTimeout, flexhttp.DefaultReadTimeout, time.Minute, flexhttp.DefaultIdleTimeout}},
		{name: "short read timeout bounds the header timeout", srv: &http.Server{ReadTimeout: 2 * time.Second}, want: [4]time.Duration{
			2 * time.Second, 2 * time.Second, flexhttp.DefaultWriteTimeout, flexhttp.DefaultIdleTimeout}},
		{name: "long read timeout", srv: &http.Server{ReadTimeout: time.Hour}, want: [4]time.Duration{
			flexhttp.DefaultReadHeaderTimeout, time.Hour, flexhttp.DefaultWriteTimeout, flexhttp.DefaultIdleTimeout}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tt.srv
			if _, err := flexhttp.New(srv, flexhttp.WithoutEnv()); err != nil {
				t.Fatal(err)
			}
			got := [4]time.Duration{srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout}
			if got != tt.want {
				t.Errorf("timeouts (header, read, write, idle) = %v, want %v", got, tt.want)
			}
		})
	}
}

// New(nil) fills the timeouts of the server it makes, seen by a handler
// through http.ServerContextKey (mounted with WithHealth, since the server
// New makes has no handler of the caller's).
func TestNilServerHasTimeouts(t *testing.T) {
	got := make(chan *http.Server, 1)
	probe := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Context().Value(http.ServerContextKey).(*http.Server)
	})
	s := newServer(t, nil, flexhttp.WithHealth(probe))
	run(t, s)
	get(newClient(t), "http://"+s.Addr()+"/livez")
	srv := await(t, got, "probe")
	if srv.ReadHeaderTimeout != flexhttp.DefaultReadHeaderTimeout || srv.ReadTimeout != flexhttp.DefaultReadTimeout ||
		srv.WriteTimeout != flexhttp.DefaultWriteTimeout || srv.IdleTimeout != flexhttp.DefaultIdleTimeout {
		t.Errorf("New(nil) server timeouts = %v %v %v %v, want the defaults",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
	if srv.Handler == http.DefaultServeMux {
		t.Error("New(nil) serves http.DefaultServeMux, process-wide state")
	}
}

// registerOnDefaultMux guards the registration on the process-wide mux, which
// panics when a test runs twice (-count).
var registerOnDefaultMux sync.Once

// A nil Handler serves 404, never http.DefaultServeMux.
func TestNilHandlerIsNotFound(t *testing.T) {
	const path = "/flexhttp-test-default-mux"
	registerOnDefaultMux.Do(func() { http.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {}) })
	s := newServer(t, &http.Server{})
	run(t, s)
	if got := get(newClient(t), "http://"+s.Addr()+path); got.code != http.StatusNotFound {
		t.Errorf("GET %s = %d, want 404: a nil Handler must not serve http.DefaultServeMux", path, got.code)
	}
}

// WithHealth(nil) means no health endpoints, as leaving it out does: nil
// means "off" for every optional argument of every module.
func TestWithHealthNilIsOff(t *testing.T) {
	s := newServer(t, &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})}, flexhttp.WithHealth(nil))
	run(t, s)
	if got := get(newClient(t), "http://"+s.Addr()+"/readyz"); got.code != http.StatusTeapot {
		t.Errorf("GET /readyz = %d, want %d from the server's own handler", got.code, http.StatusTeapot)
	}
}

// A non-nil handler holding a nil pointer or func would panic on the first
// probe: New refuses it, naming its type.
func TestWithHealthTypedNil(t *testing.T) {
	for _, h := range []http.Handler{(*flex.Health)(nil), http.HandlerFunc(nil)} {
		_, err := flexhttp.New(nil, flexhttp.WithHealth(h))
		if want := fmt.Sprintf("flexhttp: invalid WithHealth: nil %T", h); err == nil || err.Error() != want {
			t.Errorf("New(WithHealth(%#v)) = %v, want %q", h, err, want)
		}
	}
}

// WithName names the server in String, and so in flex's logs, errors and
// health checks, and in its own log lines.
func TestWithName(t *testing.T) {
	logs := &chanHandler{ch: make(chan slog.Record, 100)}
	s, err := flexhttp.New(nil, flexhttp.WithAddr("127.0.0.1:0"), flexhttp.WithName("admin(127.0.0.1:0)"), flexhttp.WithLogger(slog.New(logs)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := flex.Name(s), "admin(127.0.0.1:0)"; got != want {
		t.Errorf("flex.Name = %q, want %q", got, want)
	}
	run(t, s)
	r := <-logs.ch
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "server" && a.Value.String() != "admin(127.0.0.1:0)" {
			t.Errorf("log %q names the server %q, want admin(127.0.0.1:0)", r.Message, a.Value)
		}
		return true
	})
}

// The default logger is read by New, once: a slog.SetDefault after New
// does not move the server's logs. (Not parallel: it sets the process's
// default logger, and puts it back.)
func TestDefaultLoggerReadByNew(t *testing.T) {
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) })
	atNew, later := &chanHandler{ch: make(chan slog.Record, 100)}, &chanHandler{ch: make(chan slog.Record, 100)}
	slog.SetDefault(slog.New(atNew))
	s, err := flexhttp.New(nil, flexhttp.WithAddr("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	slog.SetDefault(slog.New(later))
	done := run(t, s)
	if err := s.Halt(context.Background()); err != nil {
		t.Fatal(err)
	}
	await(t, done, "Run")
	if len(atNew.ch) != 3 || len(later.ch) != 0 {
		t.Errorf("%d records to the default logger at New, %d to the one set later; want 3 and 0", len(atNew.ch), len(later.ch))
	}
}

// The logger given with WithLogger receives the lifecycle.
func TestWithLoggerLifecycle(t *testing.T) {
	logs := &chanHandler{ch: make(chan slog.Record, 100)}
	s, err := flexhttp.New(nil, flexhttp.WithAddr("127.0.0.1:0"), flexhttp.WithLogger(slog.New(logs)))
	if err != nil {
		t.Fatal(err)
	}
	done := run(t, s)
	if err := s.Halt(context.Background()); err != nil {
		t.Fatal(err)
	}
	await(t, done, "Run")
	close(logs.ch)
	var got []string
	for r := range logs.ch {
		got = append(got, r.Message)
	}
	want := "flexhttp: listening,flexhttp: draining,flexhttp: drained"
	if strings.Join(got, ",") != want {
		t.Errorf("logged %q, want %q", got, want)
	}
}
