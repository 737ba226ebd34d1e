package flexmetrics_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexhttp"
	"github.com/go-flexible/flexible/flexmetrics"
	"github.com/prometheus/client_golang/prometheus"
)

// A service with a public server, instrumented, and the operations server
// with metrics, profiling and health, on their own ports. Both are workers
// of one flex service, which also feeds the lifecycle metrics.
func Example() {
	reg := flexmetrics.NewRegistry() // Go and process collectors, private
	obs, err := flexmetrics.NewObserver(reg)
	if err != nil {
		log.Fatal(err)
	}
	mw, err := flexmetrics.NewMiddleware(reg)
	if err != nil {
		log.Fatal(err)
	}
	svc := flex.New(flex.WithObserver(obs))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "order %s\n", r.PathValue("id"))
	})
	public, err := flexhttp.New(&http.Server{Handler: mw.Wrap(mux)}) // FLEX_HTTP_ADDR, :8080
	if err != nil {
		log.Fatal(err)
	}
	ops, err := flexmetrics.New( // FLEX_METRICS_ADDR, :9090
		flexmetrics.WithRegistry(reg),
		flexmetrics.WithHealth(svc.Health()),
	)
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The ops server starts first and halts last, so that metrics and
	// probes answer while the public server drains.
	if err := svc.Start(ctx, ops, public); err != nil {
		log.Fatal(err)
	}
}

// The Middleware labels requests by the ServeMux pattern that routed them,
// so that /orders/1 and /orders/2 are one series.
func ExampleNewMiddleware() {
	ops, err := flexmetrics.New(flexmetrics.WithoutEnv())
	if err != nil {
		log.Fatal(err)
	}
	mw, err := flexmetrics.NewMiddleware(ops.Registry())
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {})
	public := mw.Wrap(mux)
	for _, path := range []string{"/orders/1", "/orders/2", "/nowhere"} {
		public.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}

	printSeries(ops.Handler(), "http_requests_total")
	// Output:
	// http_requests_total{code="200",method="GET",route="GET /orders/{id}"} 2
	// http_requests_total{code="404",method="GET",route="unmatched"} 1
}

// The Observer turns a service's lifecycle events into metrics; a flex
// service calls it when given flex.WithObserver(obs).
func ExampleNewObserver() {
	reg := prometheus.NewRegistry()
	obs, err := flexmetrics.NewObserver(reg)
	if err != nil {
		log.Fatal(err)
	}
	obs.Observe(flex.Event{Kind: flex.EventWorkerStarted, Worker: "http(:8080)"})
	obs.Observe(flex.Event{Kind: flex.EventWorkerReady, Worker: "http(:8080)"})
	obs.Observe(flex.Event{Kind: flex.EventWorkerHalted, Worker: "http(:8080)", Duration: 120 * time.Millisecond})
	obs.Observe(flex.Event{Kind: flex.EventWorkerStopped, Worker: "http(:8080)"})

	ops, err := flexmetrics.New(flexmetrics.WithRegistry(reg), flexmetrics.WithoutEnv())
	if err != nil {
		log.Fatal(err)
	}
	printSeries(ops.Handler(), "flex_worker_up", "flex_worker_errors_total", "flex_worker_halt_duration_seconds_count")
	// Output:
	// flex_worker_errors_total{op="halt",worker="http(:8080)"} 0
	// flex_worker_errors_total{op="run",worker="http(:8080)"} 0
	// flex_worker_halt_duration_seconds_count{worker="http(:8080)"} 1
	// flex_worker_up{worker="http(:8080)"} 0
}

// Application code registers its own collectors on the server's registry.
func ExampleServer_Registry() {
	ops, err := flexmetrics.New(flexmetrics.WithoutEnv())
	if err != nil {
		log.Fatal(err)
	}
	placed := prometheus.NewCounter(prometheus.CounterOpts{Name: "orders_placed_total", Help: "Orders placed."})
	ops.Registry().MustRegister(placed)
	placed.Inc()

	printSeries(ops.Handler(), "orders_placed_total")
	// Output:
	// orders_placed_total 1
}

// Invalid settings are reported by New, before anything listens, naming
// the setting, where it came from and its value.
func ExampleNew_invalid() {
	_, err := flexmetrics.New(flexmetrics.WithPath("metrics"), flexmetrics.WithoutEnv())
	fmt.Println(err)
	_, err = flexmetrics.New(flexmetrics.WithAddr("localhost"), flexmetrics.WithoutEnv())
	fmt.Println(err)
	// Output:
	// flexmetrics: invalid WithPath "metrics": must start with "/"
	// flexmetrics: invalid WithAddr "localhost": missing port in address
}

// printSeries scrapes h at /metrics and prints the series whose names
// start with one of prefixes.
func printSeries(h http.Handler, prefixes ...string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p+"{") || strings.HasPrefix(line, p+" ") {
				fmt.Println(line)
			}
		}
	}
}
