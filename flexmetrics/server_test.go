package flexmetrics_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flex/flextest"
	"github.com/go-flexible/flexible/flexhttp"
	"github.com/go-flexible/flexible/flexmetrics"
	"github.com/prometheus/client_golang/prometheus"
)

func TestConformance(t *testing.T) {
	flextest.TestWorker(t, func(t *testing.T) flex.Worker {
		s, err := flexmetrics.New(flexmetrics.WithAddr("127.0.0.1:0"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestScrapeServesGoAndProcessMetrics(t *testing.T) {
	_, base := start(t)
	mfs, _ := scrape(t, base+"/metrics")
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "go_info", "process_start_time_seconds"} {
		if _, ok := mfs[name]; !ok {
			t.Errorf("scrape has no %s; families: %v", name, names(mfs))
		}
	}
}

func TestApplicationCollectorsAreServed(t *testing.T) {
	s, base := start(t)
	orders := prometheus.NewCounter(prometheus.CounterOpts{Name: "orders_placed_total", Help: "Orders placed."})
	s.Registry().MustRegister(orders)
	orders.Add(3)
	mfs, _ := scrape(t, base+"/metrics")
	if got := mustSample(t, mfs, "orders_placed_total", nil); got != 3 {
		t.Errorf("orders_placed_total = %v, want 3", got)
	}
}

func TestWithRegistryServesThatRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "queue_depth", Help: "Depth."})
	reg.MustRegister(g)
	g.Set(7)
	s, base := start(t, flexmetrics.WithRegistry(reg))
	if s.Registry() != reg {
		t.Errorf("Registry() is not the registry given to WithRegistry")
	}
	mfs, _ := scrape(t, base+"/metrics")
	if got := mustSample(t, mfs, "queue_depth", nil); got != 7 {
		t.Errorf("queue_depth = %v, want 7", got)
	}
	if _, ok := mfs["go_goroutines"]; ok {
		t.Errorf("a registry given to WithRegistry is served as it is, but go_goroutines was added")
	}
}

func TestTwoServersFromDefaultsShareNothing(t *testing.T) {
	a, err := flexmetrics.New(flexmetrics.WithAddr("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := flexmetrics.New(flexmetrics.WithAddr("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Registry() == b.Registry() {
		t.Fatal("two servers built from defaults share a registry")
	}
	if a.Registry() == prometheus.DefaultRegisterer {
		t.Fatal("a server built from defaults uses the global registry")
	}
	// The same collectors register on both without a duplicate error.
	for _, s := range []*flexmetrics.Server{a, b} {
		if _, err := flexmetrics.NewMiddleware(s.Registry()); err != nil {
			t.Errorf("NewMiddleware on %s: %v", s, err)
		}
		if _, err := flexmetrics.NewObserver(s.Registry()); err != nil {
			t.Errorf("NewObserver on %s: %v", s, err)
		}
	}
	// A metric of one is not served by the other.
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "only_in_a_total", Help: "A."})
	a.Registry().MustRegister(c)
	c.Inc()
	baseA, baseB := run(t, a), run(t, b)
	if baseA == baseB {
		t.Fatalf("both servers listen on %s", baseA)
	}
	mfsA, _ := scrape(t, baseA+"/metrics")
	mfsB, _ := scrape(t, baseB+"/metrics")
	if _, ok := mfsA["only_in_a_total"]; !ok {
		t.Errorf("server a does not serve its own metric")
	}
	if _, ok := mfsB["only_in_a_total"]; ok {
		t.Errorf("server b serves server a's metric")
	}
}

func TestCustomPath(t *testing.T) {
	_, base := start(t, flexmetrics.WithPath("/internal/metrics"))
	if _, body := scrape(t, base+"/internal/metrics"); !strings.Contains(body, "go_goroutines") {
		t.Errorf("/internal/metrics does not serve go_goroutines")
	}
	if code, _ := get(t, base+"/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics with WithPath(/internal/metrics): status %d, want 404", code)
	}
}

// TestPromtoolCheckMetrics lints a scrape holding every kind of series
// flexmetrics makes (Go, process, HTTP, lifecycle) with promtool.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus); CI installs it")
	}
	s, base := start(t)
	mw, err := flexmetrics.NewMiddleware(s.Registry())
	if err != nil {
		t.Fatal(err)
	}
	obs, err := flexmetrics.NewObserver(s.Registry())
	if err != nil {
		t.Fatal(err)
	}
	obs.Observe(flex.Event{Kind: flex.EventWorkerStarted, Worker: "http(:8080)"})
	obs.Observe(flex.Event{Kind: flex.EventWorkerHalted, Worker: "http(:8080)", Duration: time.Millisecond})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(http.ResponseWriter, *http.Request) {})
	mw.Wrap(mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/orders/1", nil))

	_, body := scrape(t, base+"/metrics")
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "http_requests_total", "flex_worker_up"} {
		if !strings.Contains(body, name) {
			t.Fatalf("scrape has no %s", name)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestPprofEndpointsAnswer(t *testing.T) {
	_, base := start(t)
	for _, tc := range []struct {
		path        string
		contentType string
		gzipped     bool // a profile in the protobuf format, gzip-compressed
		contains    string
	}{
		{path: "/debug/pprof/", contentType: "text/html", contains: "goroutine?debug=2"},
		{path: "/debug/pprof/cmdline", contentType: "text/plain", contains: "flexmetrics"},
		{path: "/debug/pprof/profile?seconds=1", contentType: "application/octet-stream", gzipped: true},
		{path: "/debug/pprof/symbol", contentType: "text/plain", contains: "num_symbols: 1"},
		{path: "/debug/pprof/trace?seconds=1", contentType: "application/octet-stream", contains: "go 1."},
		{path: "/debug/pprof/allocs", contentType: "application/octet-stream", gzipped: true},
		{path: "/debug/pprof/block", contentType: "application/octet-stream", gzipped: true},
		{path: "/debug/pprof/goroutine", contentType: "application/octet-stream", gzipped: true},
		{path: "/debug/pprof/goroutine?debug=2", contentType: "text/plain", contains: "goroutine "},
		{path: "/debug/pprof/heap?gc=1", contentType: "application/octet-stream", gzipped: true},
		{path: "/debug/pprof/heap?debug=1", contentType: "text/plain", contains: "heap profile"},
		{path: "/debug/pprof/mutex", contentType: "application/octet-stream", gzipped: true},
		{path: "/debug/pprof/threadcreate", contentType: "application/octet-stream", gzipped: true},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, tc.contentType) {
				t.Errorf("Content-Type %q, want %s", got, tc.contentType)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if tc.gzipped {
				if _, err := gzip.NewReader(bytes.NewReader(body)); err != nil {
					t.Errorf("body is not a gzip-compressed profile: %v", err)
				}
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Errorf("body does not contain %q:\n%.500s", tc.contains, body)
			}
		})
	}
}

func TestPprofSymbolResolvesProgramCounters(t *testing.T) {
	_, base := start(t)
	// Take a PC from the goroutine profile in text form: "#	0x4a1b2c	main.f+0x1c	file:line".
	_, text := get(t, base+"/debug/pprof/goroutine?debug=1")
	var pc string
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && strings.HasPrefix(f[1], "0x") {
			pc = f[1]
			break
		}
	}
	if pc == "" {
		t.Fatalf("no program counter in the goroutine profile:\n%.1000s", text)
	}
	resp, err := http.Post(base+"/debug/pprof/symbol", "text/plain", strings.NewReader(pc+"+0x0"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), pc+" ") {
		t.Errorf("POST /debug/pprof/symbol %s: %q, want a line naming the function at %s", pc, body, pc)
	}
}

func TestPprofRefusesBadRequests(t *testing.T) {
	_, base := start(t, flexmetrics.WithPprofMaxDuration(2*time.Second))
	for _, tc := range []struct {
		path     string
		code     int
		contains string
	}{
		{"/debug/pprof/profile?seconds=3", http.StatusBadRequest, "exceeds the maximum 2s (FLEX_METRICS_PPROF_MAX_DURATION)"},
		{"/debug/pprof/trace?seconds=2.5", http.StatusBadRequest, "exceeds the maximum 2s"},
		{"/debug/pprof/profile?seconds=abc", http.StatusBadRequest, `invalid seconds "abc"`},
		{"/debug/pprof/trace?seconds=-1", http.StatusBadRequest, `invalid seconds "-1"`},
		{"/debug/pprof/heap?seconds=5", http.StatusBadRequest, "delta profiles"},
		{"/debug/pprof/nosuchprofile", http.StatusNotFound, "Unknown profile"},
	} {
		code, body := get(t, base+tc.path)
		if code != tc.code || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: %d %q, want %d and %q", tc.path, code, body, tc.code, tc.contains)
		}
	}
}

func TestPprofOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  flexmetrics.Option
		env  string
	}{
		{name: "option", opt: flexmetrics.WithPprof(false)},
		{name: "env", env: "false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(flexmetrics.EnvPprof, tc.env)
			_, base := start(t, tc.opt)
			for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/profile?seconds=1",
				"/debug/pprof/symbol", "/debug/pprof/trace?seconds=1", "/debug/pprof/heap", "/debug/pprof/goroutine"} {
				if code, _ := get(t, base+p); code != http.StatusNotFound {
					t.Errorf("GET %s with pprof off: status %d, want 404", p, code)
				}
			}
			if _, body := scrape(t, base+"/metrics"); !strings.Contains(body, "go_goroutines") {
				t.Errorf("metrics not served with pprof off")
			}
		})
	}
}

// TestPprofNeverOnPublicServer checks that flexmetrics registers no
// profiling endpoint on http.DefaultServeMux, so that no public server
// exposes profiles: neither a flexhttp server with the caller's mux, nor one
// with a nil handler, nor even one serving http.DefaultServeMux itself. The
// first two do not serve expvar's /debug/vars either; DefaultServeMux does,
// since client_golang imports expvar, whose init registers it there (see
// the package doc): that is why serving DefaultServeMux publicly is unsafe.
func TestPprofNeverOnPublicServer(t *testing.T) {
	if _, pattern := http.DefaultServeMux.Handler(httptest.NewRequest("GET", "/debug/pprof/", nil)); pattern != "" {
		t.Fatalf("http.DefaultServeMux routes /debug/pprof/ to pattern %q", pattern)
	}
	_, _ = start(t) // an ops server with pprof on runs meanwhile
	public := http.NewServeMux()
	public.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "orders") })
	for name, handler := range map[string]http.Handler{"caller mux": public, "nil handler": nil, "DefaultServeMux": http.DefaultServeMux} {
		t.Run(name, func(t *testing.T) {
			srv, err := flexhttp.New(&http.Server{Handler: handler}, flexhttp.WithAddr("127.0.0.1:0"), flexhttp.WithoutEnv(), flexhttp.WithLogger(quiet))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- srv.Run(context.Background()) }()
			t.Cleanup(func() {
				srv.Halt(context.Background())
				<-done
			})
			<-srv.Ready()
			paths := []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap", "/debug/pprof/symbol"}
			if handler != http.DefaultServeMux {
				paths = append(paths, "/debug/vars")
			}
			for _, p := range paths {
				if code, _ := get(t, "http://"+srv.Addr()+p); code != http.StatusNotFound {
					t.Errorf("public server (%s) GET %s: status %d, want 404", name, p, code)
				}
			}
		})
	}
}

func TestHealthEndpoints(t *testing.T) {
	svc := flex.New()
	_, base := start(t, flexmetrics.WithHealth(svc.Health()))
	if code, body := get(t, base+"/livez"); code != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("GET /livez: %d %s, want 200 ok", code, body)
	}
	// The service has not started: readiness fails.
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not started") {
		t.Errorf("GET /readyz: %d %s, want 503 not started", code, body)
	}

	_, noHealth := start(t)
	if code, _ := get(t, noHealth+"/readyz"); code != http.StatusNotFound {
		t.Errorf("GET /readyz without WithHealth: %d, want 404", code)
	}
}

// TestHaltWithPlainContext is the regression test for the original
// failure, "listener address not found in context": Halt needs nothing
// from its context but its deadline.
func TestHaltWithPlainContext(t *testing.T) {
	s, err := flexmetrics.New(flexmetrics.WithAddr("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	<-s.Ready()
	if err := s.Halt(context.Background()); err != nil {
		t.Fatalf("Halt(context.Background()) = %v, want nil", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

// TestHaltEndsTraceInProgress checks that a long trace does not hold up
// shutdown: Halt ends it, the client gets what was recorded, and Halt
// returns well before the trace would have ended by itself.
func TestHaltEndsTraceInProgress(t *testing.T) {
	s, err := flexmetrics.New(flexmetrics.WithAddr("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	<-s.Ready()

	type result struct {
		code int
		body []byte
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + s.Addr() + "/debug/pprof/trace?seconds=25")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		got <- result{resp.StatusCode, body, err}
	}()
	// The handler has started the trace once tracing is on.
	deadline := time.Now().Add(wait)
	for !trace.IsEnabled() {
		if time.Now().After(deadline) {
			t.Fatal("the trace never started")
		}
		time.Sleep(time.Millisecond)
	}
	// The deadline is far shorter than the trace: Halt meets it only if it
	// ends the trace.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Halt(ctx); err != nil {
		t.Fatalf("Halt during a 25 s trace: %v", err)
	}
	r := <-got
	if r.err != nil || r.code != http.StatusOK || len(r.body) == 0 {
		t.Errorf("trace cut by Halt: code %d, %d bytes, error %v; want 200 with the trace so far", r.code, len(r.body), r.err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

func TestWriteTimeoutExceedsMaxProfile(t *testing.T) {
	srv := &http.Server{}
	if _, err := flexmetrics.New(flexmetrics.WithServer(srv), flexmetrics.WithPprofMaxDuration(45*time.Second), flexmetrics.WithoutEnv()); err != nil {
		t.Fatal(err)
	}
	if want := 45*time.Second + flexmetrics.WriteTimeoutMargin; srv.WriteTimeout != want {
		t.Errorf("WriteTimeout = %v, want %v", srv.WriteTimeout, want)
	}
	if srv.Handler == nil {
		t.Errorf("the server's Handler was not set")
	}

	_, err := flexmetrics.New(flexmetrics.WithServer(&http.Server{WriteTimeout: 30 * time.Second}), flexmetrics.WithoutEnv())
	if err == nil || !strings.Contains(err.Error(), "WriteTimeout 30s: must exceed the pprof max duration 30s") {
		t.Errorf("New with WriteTimeout equal to the max profile: %v, want an error", err)
	}
	// With pprof off, or no write timeout at all, any WriteTimeout goes.
	for _, opts := range [][]flexmetrics.Option{
		{flexmetrics.WithServer(&http.Server{WriteTimeout: 5 * time.Second}), flexmetrics.WithPprof(false)},
		{flexmetrics.WithServer(&http.Server{WriteTimeout: -1})},
	} {
		if _, err := flexmetrics.New(append(opts, flexmetrics.WithoutEnv())...); err != nil {
			t.Errorf("New: %v", err)
		}
	}
}

func TestWithServerUsesCallersServer(t *testing.T) {
	srv := &http.Server{Addr: "127.0.0.1:0", ReadTimeout: 7 * time.Second}
	s, err := flexmetrics.New(flexmetrics.WithServer(srv), flexmetrics.WithoutEnv())
	if err != nil {
		t.Fatal(err)
	}
	base := run(t, s)
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Errorf("Addr() = %q, want the server's Addr 127.0.0.1:<port>", s.Addr())
	}
	if srv.ReadTimeout != 7*time.Second {
		t.Errorf("ReadTimeout = %v, want the caller's 7s", srv.ReadTimeout)
	}
	if _, body := scrape(t, base+"/metrics"); !strings.Contains(body, "go_goroutines") {
		t.Errorf("the caller's server does not serve metrics")
	}

	_, err = flexmetrics.New(flexmetrics.WithServer(&http.Server{Handler: http.NewServeMux()}))
	if err == nil || !strings.Contains(err.Error(), "Handler must be nil") {
		t.Errorf("New with a server that has a Handler: %v, want an error", err)
	}
}

func TestRunFailsOnPortInUse(t *testing.T) {
	a, _ := start(t)
	b, err := flexmetrics.New(flexmetrics.WithAddr(a.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	err = b.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), a.Addr()) {
		t.Errorf("Run on a port in use: %v, want an error naming %s", err, a.Addr())
	}
}

func TestHandlerWithoutRun(t *testing.T) {
	s, err := flexmetrics.New(flexmetrics.WithoutEnv())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "go_goroutines") {
		t.Errorf("Handler() GET /metrics: %d, want 200 with go_goroutines", rec.Code)
	}
	if got, want := s.String(), "metrics(:9090)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if s.Addr() != "" {
		t.Errorf("Addr() before Run = %q, want empty", s.Addr())
	}
	if err := s.Halt(context.Background()); err != nil {
		t.Errorf("Halt without Run: %v", err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Errorf("Run after Halt: %v, want nil", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Errorf("unexpected cancellation")
	}
}

// TestPprofBusy checks that a profile or trace requested while another is
// being taken elsewhere in the program (CPU profiling and tracing are
// process-wide) is refused with 429 and says why, rather than corrupting
// either.
func TestPprofBusy(t *testing.T) {
	_, base := start(t)
	if err := pprof.StartCPUProfile(io.Discard); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, base+"/debug/pprof/profile?seconds=1")
	pprof.StopCPUProfile()
	if code != http.StatusTooManyRequests || !strings.Contains(body, "cannot take a CPU profile: cpu profiling already in use") {
		t.Errorf("profile while profiling: %d %q, want 429", code, body)
	}
	if err := trace.Start(io.Discard); err != nil {
		t.Fatal(err)
	}
	code, body = get(t, base+"/debug/pprof/trace?seconds=1")
	trace.Stop()
	if code != http.StatusTooManyRequests || !strings.Contains(body, "cannot take a trace") {
		t.Errorf("trace while tracing: %d %q, want 429", code, body)
	}
}

// TestScrapeErrorsAreLoggedAndTheRestServed checks that a collector that
// fails does not take the whole scrape down, and that the failure is logged.
func TestScrapeErrorsAreLoggedAndTheRestServed(t *testing.T) {
	var logs bytes.Buffer
	s, base := start(t, flexmetrics.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	s.Registry().MustRegister(failing{prometheus.NewDesc("broken_metric", "Broken.", nil, nil)})
	mfs, _ := scrape(t, base+"/metrics")
	if _, ok := mfs["go_goroutines"]; !ok {
		t.Errorf("a failing collector took go_goroutines down with it")
	}
	if !strings.Contains(logs.String(), "flexmetrics: gathering metrics") || !strings.Contains(logs.String(), "collector broke") {
		t.Errorf("the collector's error was not logged: %q", logs.String())
	}
}

type failing struct{ desc *prometheus.Desc }

func (f failing) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }
func (f failing) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(f.desc, errors.New("collector broke"))
}

// The operations server has one name: flexhttp's log lines and errors for
// it say "metrics(...)", as flex does, never "http(...)".
func TestOneName(t *testing.T) {
	var logs lockedBuffer
	s, _ := start(t, flexmetrics.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err := s.Halt(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"flexhttp: listening", "flexhttp: draining", "flexhttp: drained"} {
		if want := `msg="` + msg + `" server=metrics(127.0.0.1:0)`; !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
}

// The default logger is read by New, once: a slog.SetDefault after New
// does not move the server's logs. (Not parallel: it sets the process's
// default logger, and puts it back.)
func TestDefaultLoggerReadByNew(t *testing.T) {
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) })
	var atNew, later lockedBuffer
	slog.SetDefault(slog.New(slog.NewTextHandler(&atNew, nil)))
	s, err := flexmetrics.New(flexmetrics.WithAddr("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(&later, nil)))
	run(t, s)
	if err := s.Halt(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(atNew.String(), "flexhttp: drained") || later.String() != "" {
		t.Errorf("logs went to the default logger set after New:\nat New: %s\nlater: %s", atNew.String(), later.String())
	}
}

// lockedBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
