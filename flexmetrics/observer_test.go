package flexmetrics_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexhttp"
	"github.com/go-flexible/flexible/flexmetrics"
	"github.com/prometheus/client_golang/prometheus"
)

func TestObserverRecordsEvents(t *testing.T) {
	reg := prometheus.NewRegistry()
	obs, err := flexmetrics.NewObserver(reg)
	if err != nil {
		t.Fatal(err)
	}
	var o flex.Observer = obs
	for _, e := range []flex.Event{
		{Kind: flex.EventStarting},
		{Kind: flex.EventWorkerStarted, Worker: "a"},
		{Kind: flex.EventWorkerStarted, Worker: "b"},
		{Kind: flex.EventWorkerStarted, Worker: "c"},
		{Kind: flex.EventWorkerReady, Worker: "a"},
		{Kind: flex.EventWorkerStopped, Worker: "b", Err: errors.New("broke"), Duration: time.Second},
		{Kind: flex.EventShutdown, Reason: "worker b failed"},
		{Kind: flex.EventWorkerHalting, Worker: "c"},
		{Kind: flex.EventWorkerHalted, Worker: "c", Duration: 2 * time.Second, Err: errors.New("halt panicked"), Panicked: true},
		{Kind: flex.EventWorkerHalting, Worker: "a"},
		{Kind: flex.EventWorkerHalted, Worker: "a", Duration: 3 * time.Millisecond, Err: errors.New("deadline")},
		{Kind: flex.EventWorkerHalted, Worker: "b", Duration: time.Millisecond},
		{Kind: flex.EventWorkerReady, Worker: "b"}, // late, after b stopped
		{Kind: flex.EventWorkerReady, Worker: "never-started"},
	} {
		o.Observe(e)
	}
	mfs := gather(t, reg)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"flex_worker_up", map[string]string{"worker": "a"}, 1},
		{"flex_worker_up", map[string]string{"worker": "b"}, 0},
		{"flex_worker_up", map[string]string{"worker": "c"}, 1},
		{"flex_worker_ready", map[string]string{"worker": "a"}, 1},
		{"flex_worker_ready", map[string]string{"worker": "b"}, 0}, // the late ready event is ignored
		{"flex_worker_ready", map[string]string{"worker": "c"}, 0},
		{"flex_worker_errors_total", map[string]string{"worker": "b", "op": "run"}, 1},
		{"flex_worker_errors_total", map[string]string{"worker": "a", "op": "halt"}, 1},
		{"flex_worker_errors_total", map[string]string{"worker": "a", "op": "run"}, 0},
		{"flex_worker_errors_total", map[string]string{"worker": "c", "op": "halt"}, 0}, // a panic, counted as such
		{"flex_worker_panics_total", map[string]string{"worker": "c", "op": "halt"}, 1},
		{"flex_worker_panics_total", map[string]string{"worker": "c", "op": "run"}, 0},
		{"flex_worker_halt_duration_seconds", map[string]string{"worker": "a"}, 1},
		{"flex_worker_halt_duration_seconds", map[string]string{"worker": "c"}, 1},
	} {
		if got := mustSample(t, mfs, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if _, ok := sample(mfs, "flex_worker_ready", map[string]string{"worker": "never-started"}); ok {
		t.Errorf("a ready event for a worker that never started made a series")
	}
	h := mfs["flex_worker_halt_duration_seconds"].GetMetric()
	var sum float64
	for _, m := range h {
		sum += m.GetHistogram().GetSampleSum()
	}
	if want := 2.004; sum < want-1e-9 || sum > want+1e-9 {
		t.Errorf("flex_worker_halt_duration_seconds sum = %v, want %v", sum, want)
	}
}

func TestNewObserverErrors(t *testing.T) {
	if _, err := flexmetrics.NewObserver(nil); !errors.Is(err, flexmetrics.ErrNilRegisterer) {
		t.Errorf("NewObserver(nil) = %v, want ErrNilRegisterer", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := flexmetrics.NewObserver(reg); err != nil {
		t.Fatal(err)
	}
	_, err := flexmetrics.NewObserver(reg)
	var already prometheus.AlreadyRegisteredError
	if !errors.As(err, &already) {
		t.Errorf("second NewObserver on one registry = %v, want AlreadyRegisteredError", err)
	}
}

// TestEndToEnd runs a service as a program would: a public flexhttp-like
// worker instrumented by the Middleware, the ops server with health, and
// the Observer, all under flex.Service.Start; then scrapes the ops server
// over HTTP while the service runs.
func TestEndToEnd(t *testing.T) {
	reg := flexmetrics.NewRegistry()
	obs, err := flexmetrics.NewObserver(reg)
	if err != nil {
		t.Fatal(err)
	}
	mw, err := flexmetrics.NewMiddleware(reg)
	if err != nil {
		t.Fatal(err)
	}
	// A second observer tells the test when both workers are ready.
	bothReady := make(chan struct{})
	var readyCount atomic.Int32
	signal := flex.ObserverFunc(func(e flex.Event) {
		if e.Kind == flex.EventWorkerReady {
			if readyCount.Add(1) == 2 {
				close(bothReady)
			}
		}
	})
	svc := flex.New(flex.WithObserver(obs), flex.WithObserver(signal), flex.WithSignals(), flex.WithShutdownDelay(0), flex.WithLogger(quiet))
	ops, err := flexmetrics.New(flexmetrics.WithAddr("127.0.0.1:0"), flexmetrics.WithRegistry(reg), flexmetrics.WithHealth(svc.Health()), flexmetrics.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) })
	app, err := flexhttp.New(&http.Server{Handler: mw.Wrap(mux)}, flexhttp.WithAddr("127.0.0.1:0"), flexhttp.WithoutEnv(), flexhttp.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan error, 1)
	go func() { started <- svc.Start(ctx, app, ops) }()

	select {
	case <-bothReady:
	case err := <-started:
		t.Fatalf("Start returned %v before the workers were ready", err)
	case <-time.After(wait):
		t.Fatalf("workers not ready after %v", wait)
	}
	base := "http://" + ops.Addr()
	if code, body := get(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("GET /readyz with every worker ready: %d %s", code, body)
	}

	if code, body := get(t, "http://"+app.Addr()+"/hello"); code != http.StatusOK || body != "hello" {
		t.Fatalf("GET /hello: %d %q", code, body)
	}
	mfs, body := scrape(t, base+"/metrics")
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"flex_worker_up", map[string]string{"worker": ops.String()}, 1},
		{"flex_worker_up", map[string]string{"worker": app.String()}, 1},
		{"flex_worker_ready", map[string]string{"worker": ops.String()}, 1},
		{"flex_worker_errors_total", map[string]string{"worker": ops.String(), "op": "run"}, 0},
		{"http_requests_total", map[string]string{"route": "GET /hello", "code": "200", "method": "GET"}, 1},
	} {
		if got := mustSample(t, mfs, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_start_time_seconds") {
		t.Errorf("the scrape lacks the Go or process collector")
	}

	cancel()
	if err := <-started; err != nil {
		t.Fatalf("Start: %v", err)
	}
	// After shutdown, the observer recorded the halts (the registry is
	// still readable through the handler).
	after := gather(t, reg)
	for _, w := range []string{ops.String(), app.String()} {
		if got := mustSample(t, after, "flex_worker_halt_duration_seconds", map[string]string{"worker": w}); got != 1 {
			t.Errorf("flex_worker_halt_duration_seconds{worker=%q} count = %v, want 1", w, got)
		}
		if got := mustSample(t, after, "flex_worker_up", map[string]string{"worker": w}); got != 0 {
			t.Errorf("flex_worker_up{worker=%q} = %v after shutdown, want 0", w, got)
		}
	}
}

// TestObserverWorkersSharingAName checks the gauges of two workers with the
// same name (two instances of one type without a String method, say): one
// stopping leaves the other counted as up, and its ready event counts.
func TestObserverWorkersSharingAName(t *testing.T) {
	reg := prometheus.NewRegistry()
	obs, err := flexmetrics.NewObserver(reg)
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string, wantUp, wantReady float64) {
		t.Helper()
		mfs := gather(t, reg)
		if got := mustSample(t, mfs, "flex_worker_up", map[string]string{"worker": "w"}); got != wantUp {
			t.Errorf("%s: flex_worker_up = %v, want %v", step, got, wantUp)
		}
		if got := mustSample(t, mfs, "flex_worker_ready", map[string]string{"worker": "w"}); got != wantReady {
			t.Errorf("%s: flex_worker_ready = %v, want %v", step, got, wantReady)
		}
	}
	obs.Observe(flex.Event{Kind: flex.EventWorkerStarted, Worker: "w"})
	obs.Observe(flex.Event{Kind: flex.EventWorkerReady, Worker: "w"})
	obs.Observe(flex.Event{Kind: flex.EventWorkerStarted, Worker: "w"})
	check("two started, one ready", 2, 1)
	obs.Observe(flex.Event{Kind: flex.EventWorkerReady, Worker: "w"})
	check("two started, two ready", 2, 2)
	obs.Observe(flex.Event{Kind: flex.EventWorkerStopped, Worker: "w"})
	check("one stopped", 1, 1)
	obs.Observe(flex.Event{Kind: flex.EventWorkerStopped, Worker: "w"})
	check("both stopped", 0, 0)
	obs.Observe(flex.Event{Kind: flex.EventWorkerReady, Worker: "w"}) // late
	check("a late ready event", 0, 0)
}
