package flexmetrics_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexhttp"
	"github.com/go-flexible/flexible/flexmetrics"
)

// TestPrecedence checks option > environment > default for every setting,
// through what the server does rather than its internals.
func TestPrecedence(t *testing.T) {
	t.Run("addr", func(t *testing.T) {
		t.Setenv(flexmetrics.EnvAddr, "127.0.0.1:1") // would fail to bind if used
		s, _ := start(t)                             // start gives WithAddr("127.0.0.1:0")
		if strings.HasSuffix(s.Addr(), ":1") {
			t.Errorf("WithAddr lost to FLEX_METRICS_ADDR: %s", s.Addr())
		}
		s, err := flexmetrics.New()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.String(), "metrics(127.0.0.1:1)"; got != want {
			t.Errorf("with FLEX_METRICS_ADDR only: %s, want %s", got, want)
		}
		s, err = flexmetrics.New(flexmetrics.WithServer(&http.Server{Addr: "127.0.0.1:2"}))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.String(), "metrics(127.0.0.1:1)"; got != want {
			t.Errorf("WithServer Addr and FLEX_METRICS_ADDR: %s, want %s (the environment first, as in flexhttp)", got, want)
		}
		t.Setenv(flexmetrics.EnvAddr, "")
		s, err = flexmetrics.New(flexmetrics.WithServer(&http.Server{Addr: "127.0.0.1:2"}))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.String(), "metrics(127.0.0.1:2)"; got != want {
			t.Errorf("WithServer Addr without FLEX_METRICS_ADDR: %s, want %s", got, want)
		}
		s, err = flexmetrics.New()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.String(), "metrics("+flexmetrics.DefaultAddr+")"; got != want {
			t.Errorf("default: %s, want %s", got, want)
		}
	})

	t.Run("path", func(t *testing.T) {
		t.Setenv(flexmetrics.EnvPath, "/from-env")
		for _, tc := range []struct {
			opts []flexmetrics.Option
			want string
		}{
			{[]flexmetrics.Option{flexmetrics.WithPath("/from-option")}, "/from-option"},
			{nil, "/from-env"},
			{[]flexmetrics.Option{flexmetrics.WithoutEnv()}, flexmetrics.DefaultPath},
		} {
			s, err := flexmetrics.New(tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if code := serve(s, tc.want); code != http.StatusOK {
				t.Errorf("GET %s: %d, want 200", tc.want, code)
			}
			for _, other := range []string{"/from-option", "/from-env", flexmetrics.DefaultPath} {
				if other != tc.want && serve(s, other) != http.StatusNotFound {
					t.Errorf("metrics at %s too, want only at %s", other, tc.want)
				}
			}
		}
	})

	t.Run("pprof", func(t *testing.T) {
		t.Setenv(flexmetrics.EnvPprof, "0")
		for _, tc := range []struct {
			opts []flexmetrics.Option
			want int
		}{
			{[]flexmetrics.Option{flexmetrics.WithPprof(true)}, http.StatusOK},
			{nil, http.StatusNotFound},
			{[]flexmetrics.Option{flexmetrics.WithoutEnv()}, http.StatusOK}, // default on
		} {
			s, err := flexmetrics.New(tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if got := serve(s, "/debug/pprof/cmdline"); got != tc.want {
				t.Errorf("GET /debug/pprof/cmdline: %d, want %d", got, tc.want)
			}
		}
	})

	t.Run("pprof max", func(t *testing.T) {
		t.Setenv(flexmetrics.EnvPprofMaxDuration, "3s")
		for _, tc := range []struct {
			opts []flexmetrics.Option
			want time.Duration
		}{
			{[]flexmetrics.Option{flexmetrics.WithPprofMaxDuration(5 * time.Second)}, 5 * time.Second},
			{nil, 3 * time.Second},
			{[]flexmetrics.Option{flexmetrics.WithoutEnv()}, flexmetrics.DefaultPprofMaxDuration},
		} {
			srv := &http.Server{}
			if _, err := flexmetrics.New(append(tc.opts, flexmetrics.WithServer(srv))...); err != nil {
				t.Fatal(err)
			}
			if got, want := srv.WriteTimeout, tc.want+flexmetrics.WriteTimeoutMargin; got != want {
				t.Errorf("WriteTimeout = %v, want %v", got, want)
			}
		}
	})
}

// serve sends a GET for path to s's handler and returns the status code.
func serve(s *flexmetrics.Server, path string) int {
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code
}

func TestInvalidSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		opts []flexmetrics.Option
		want string
	}{
		{name: "pprof env", env: map[string]string{flexmetrics.EnvPprof: "maybe"},
			want: `flexmetrics: invalid FLEX_METRICS_PPROF "maybe": want true or false`},
		{name: "addr env without port", env: map[string]string{flexmetrics.EnvAddr: "abc"},
			want: `flexmetrics: invalid FLEX_METRICS_ADDR "abc": missing port in address`},
		{name: "addr env bad port", env: map[string]string{flexmetrics.EnvAddr: ":99999"},
			want: `flexmetrics: invalid FLEX_METRICS_ADDR ":99999": port "99999" is not a number from 0 to 65535`},
		{name: "addr option", opts: []flexmetrics.Option{flexmetrics.WithAddr("localhost:http")},
			want: `flexmetrics: invalid WithAddr "localhost:http": port "http" is not a number`},
		{name: "addr option too many colons", opts: []flexmetrics.Option{flexmetrics.WithAddr("::1:9090")},
			want: `flexmetrics: invalid WithAddr "::1:9090": too many colons in address`},
		{name: "server addr", opts: []flexmetrics.Option{flexmetrics.WithServer(&http.Server{Addr: "nope"})},
			want: `flexmetrics: invalid WithServer Addr "nope": missing port in address`},
		{name: "path env relative", env: map[string]string{flexmetrics.EnvPath: "metrics"},
			want: `flexmetrics: invalid FLEX_METRICS_PATH "metrics": must start with "/"`},
		{name: "path option trailing slash", opts: []flexmetrics.Option{flexmetrics.WithPath("/metrics/")},
			want: `flexmetrics: invalid WithPath "/metrics/": must not end with "/"`},
		{name: "path root", opts: []flexmetrics.Option{flexmetrics.WithPath("/")},
			want: `flexmetrics: invalid WithPath "/": must not end with "/"`},
		{name: "path wildcard", opts: []flexmetrics.Option{flexmetrics.WithPath("/m/{x}")},
			want: `flexmetrics: invalid WithPath "/m/{x}": must be a plain path`},
		{name: "path unclean", opts: []flexmetrics.Option{flexmetrics.WithPath("/a//b")},
			want: `flexmetrics: invalid WithPath "/a//b": must be a clean path ("/a/b")`},
		{name: "path reserved pprof", env: map[string]string{flexmetrics.EnvPath: "/debug/pprof/heap"},
			want: `flexmetrics: invalid FLEX_METRICS_PATH "/debug/pprof/heap": /debug/pprof is reserved`},
		{name: "path reserved readyz", opts: []flexmetrics.Option{flexmetrics.WithPath("/readyz")},
			want: `flexmetrics: invalid WithPath "/readyz": /readyz is reserved`},
		{name: "pprof max env", env: map[string]string{flexmetrics.EnvPprofMaxDuration: "forever"},
			want: `flexmetrics: invalid FLEX_METRICS_PPROF_MAX_DURATION "forever": want a Go duration such as "30s"`},
		{name: "pprof max env too short", env: map[string]string{flexmetrics.EnvPprofMaxDuration: "500ms"},
			want: `flexmetrics: invalid FLEX_METRICS_PPROF_MAX_DURATION "500ms": must be at least 1s`},
		// Found by FuzzEnv: the error quoted the parsed "0s", not the "0" written.
		{name: "pprof max env zero", env: map[string]string{flexmetrics.EnvPprofMaxDuration: "0"},
			want: `flexmetrics: invalid FLEX_METRICS_PPROF_MAX_DURATION "0": must be at least 1s`},
		{name: "pprof max option", opts: []flexmetrics.Option{flexmetrics.WithPprofMaxDuration(-time.Second)},
			want: `flexmetrics: invalid WithPprofMaxDuration "-1s": must be at least 1s`},
		{name: "nil health", opts: []flexmetrics.Option{flexmetrics.WithHealth((*nilHandler)(nil))},
			want: `flexmetrics: invalid WithHealth: nil *flexmetrics_test.nilHandler`},
		{name: "nil health func", opts: []flexmetrics.Option{flexmetrics.WithHealth(http.HandlerFunc(nil))},
			want: `flexmetrics: invalid WithHealth: nil http.HandlerFunc`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			s, err := flexmetrics.New(tc.opts...)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error starting with %s", err, tc.want)
			}
			if s != nil {
				t.Errorf("New returned a Server with its error")
			}
		})
	}
}

// TestOptionsBeatInvalidEnv checks that an option given in code makes the
// environment variable it overrides irrelevant, even when invalid.
func TestOptionsBeatInvalidEnv(t *testing.T) {
	t.Setenv(flexmetrics.EnvAddr, "bad")
	t.Setenv(flexmetrics.EnvPath, "bad")
	t.Setenv(flexmetrics.EnvPprof, "bad")
	t.Setenv(flexmetrics.EnvPprofMaxDuration, "bad")
	if _, err := flexmetrics.New(flexmetrics.WithAddr(":0"), flexmetrics.WithPath("/m"), flexmetrics.WithPprof(true),
		flexmetrics.WithPprofMaxDuration(time.Minute)); err != nil {
		t.Errorf("New with every setting given as an option: %v", err)
	}
	if _, err := flexmetrics.New(flexmetrics.WithoutEnv()); err != nil {
		t.Errorf("New(WithoutEnv()): %v", err)
	}
	if _, err := flexmetrics.New(nil, flexmetrics.WithoutEnv()); err != nil {
		t.Errorf("New with a nil option: %v", err)
	}
}

type nilHandler struct{}

func (*nilHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}

// TestPublicServerEnvDoesNotApply checks that the variables of the public
// flexhttp server (PORT, set by Cloud Run and Heroku, in particular) move
// or change nothing on the operations server.
func TestPublicServerEnvDoesNotApply(t *testing.T) {
	t.Setenv(flexhttp.EnvAddr, "127.0.0.1:1")
	t.Setenv(flexhttp.EnvPort, "1")
	t.Setenv(flexhttp.EnvTLSCertFile, "/nonexistent/cert.pem") // would fail New if read
	t.Setenv(flexhttp.EnvTLSKeyFile, "/nonexistent/key.pem")
	t.Setenv(flexmetrics.EnvAddr, "")
	s, err := flexmetrics.New()
	if err != nil {
		t.Fatalf("New with the public server's variables set: %v", err)
	}
	if got, want := s.String(), "metrics("+flexmetrics.DefaultAddr+")"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
