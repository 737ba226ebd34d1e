package flexmetrics_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-flexible/flexible/flexmetrics"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// instrumented returns a public handler: mux routes wrapped by a
// Middleware registered on the ops server's registry, served over real
// HTTP, and the ops server's base URL.
func instrumented(t *testing.T, mux *http.ServeMux) (public, ops string) {
	t.Helper()
	s, ops := start(t)
	mw, err := flexmetrics.NewMiddleware(s.Registry())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw.Wrap(mux))
	t.Cleanup(srv.Close)
	return srv.URL, ops
}

func TestMiddlewareLabelsByRoutePattern(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.PathValue("id")) })
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	public, ops := instrumented(t, mux)

	for _, id := range []string{"1", "2", "3"} {
		if code, _ := get(t, public+"/orders/"+id); code != http.StatusOK {
			t.Fatalf("GET /orders/%s: %d", id, code)
		}
	}
	resp, err := http.Post(public+"/orders", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, _ := get(t, public+"/nowhere/42"); code != http.StatusNotFound {
		t.Fatalf("GET /nowhere/42: %d, want 404", code)
	}
	req, _ := http.NewRequest("BREW", public+"/orders/1", nil)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	mfs, _ := scrape(t, ops+"/metrics")
	for _, tc := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"code": "200", "method": "GET", "route": "GET /orders/{id}"}, 3},
		{map[string]string{"code": "201", "method": "POST", "route": "POST /orders"}, 1},
		{map[string]string{"code": "404", "method": "GET", "route": "unmatched"}, 1},
		{map[string]string{"code": "405", "method": "other"}, 1},
	} {
		if got := mustSample(t, mfs, "http_requests_total", tc.labels); got != tc.want {
			t.Errorf("http_requests_total%v = %v, want %v", tc.labels, got, tc.want)
		}
		if got := mustSample(t, mfs, "http_request_duration_seconds", tc.labels); got != tc.want {
			t.Errorf("http_request_duration_seconds%v count = %v, want %v", tc.labels, got, tc.want)
		}
	}
	// Bounded cardinality: no raw path and no raw method ever becomes a label.
	for _, m := range mfs["http_requests_total"].GetMetric() {
		for _, lp := range m.GetLabel() {
			if v := lp.GetValue(); strings.Contains(v, "/orders/1") || strings.Contains(v, "nowhere") || v == "BREW" {
				t.Errorf("label %s=%q comes from the request, not the routes", lp.GetName(), v)
			}
		}
	}
	if got := mustSample(t, mfs, "http_requests_in_flight", nil); got != 0 {
		t.Errorf("http_requests_in_flight = %v after all requests, want 0", got)
	}
}

func TestMiddlewareCountsInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	public, ops := instrumented(t, mux)
	done := make(chan struct{})
	for range 2 {
		go func() {
			if resp, err := http.Get(public + "/slow"); err == nil {
				resp.Body.Close()
			}
			done <- struct{}{}
		}()
	}
	<-entered
	<-entered
	mfs, _ := scrape(t, ops+"/metrics")
	if got := mustSample(t, mfs, "http_requests_in_flight", nil); got != 2 {
		t.Errorf("http_requests_in_flight = %v with two requests in the handler, want 2", got)
	}
	close(release)
	<-done
	<-done
	mfs, _ = scrape(t, ops+"/metrics")
	if got := mustSample(t, mfs, "http_requests_in_flight", nil); got != 0 {
		t.Errorf("http_requests_in_flight = %v once they returned, want 0", got)
	}
}

func TestMiddlewareRecordsPanicsAs500(t *testing.T) {
	reg := prometheus.NewRegistry()
	mw, err := flexmetrics.NewMiddleware(reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want the handler's panic to go on", v)
			}
		}()
		mw.Wrap(mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/boom", nil))
	}()
	mfs := gather(t, reg)
	if got := mustSample(t, mfs, "http_requests_total", map[string]string{"code": "500", "route": "GET /boom"}); got != 1 {
		t.Errorf("http_requests_total{code=500} = %v, want 1", got)
	}
	if got := mustSample(t, mfs, "http_requests_in_flight", nil); got != 0 {
		t.Errorf("http_requests_in_flight = %v after the panic, want 0", got)
	}
}

func TestMiddlewareKeepsResponseWriterFeatures(t *testing.T) {
	reg := prometheus.NewRegistry()
	mw, err := flexmetrics.NewMiddleware(reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		f, ok := w.(http.Flusher)
		if !ok {
			t.Error("the wrapped ResponseWriter is not an http.Flusher")
			return
		}
		io.WriteString(w, "a")
		f.Flush()
	})
	mux.HandleFunc("GET /flush-first", func(w http.ResponseWriter, r *http.Request) { w.(http.Flusher).Flush() })
	mux.HandleFunc("GET /hijack", func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
		buf.Flush()
	})
	mux.HandleFunc("GET /deadline", func(w http.ResponseWriter, r *http.Request) {
		// http.ResponseController reaches the connection through Unwrap.
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
			t.Errorf("EnableFullDuplex through the middleware: %v", err)
		}
		w.WriteHeader(http.StatusAccepted)
		w.WriteHeader(http.StatusTeapot) // superfluous: the first code counts
	})
	mux.HandleFunc("GET /early-hints", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusEarlyHints) // informational: not the final code
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mw.Wrap(mux))
	defer srv.Close()
	for _, p := range []string{"/stream", "/flush-first", "/hijack", "/deadline", "/early-hints"} {
		if code, _ := get(t, srv.URL+p); code >= 300 {
			t.Errorf("GET %s: %d", p, code)
		}
	}
	mfs := gather(t, reg)
	for route, code := range map[string]string{"GET /stream": "200", "GET /flush-first": "200", "GET /deadline": "202", "GET /early-hints": "204"} {
		if got, _ := sample(mfs, "http_requests_total", map[string]string{"code": code, "route": route}); got != 1 {
			t.Errorf("http_requests_total{code=%s, route=%s} = %v, want 1", code, route, got)
		}
	}

	// A ResponseWriter that cannot hijack makes Hijack fail cleanly.
	mux.HandleFunc("GET /hijack-recorder", func(w http.ResponseWriter, r *http.Request) {
		if _, _, err := w.(http.Hijacker).Hijack(); !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("Hijack on a recorder: %v, want http.ErrNotSupported", err)
		}
	})
	mw.Wrap(mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/hijack-recorder", nil))
}

func TestMiddlewareStatusOutsideRange(t *testing.T) {
	reg := prometheus.NewRegistry()
	mw, _ := flexmetrics.NewMiddleware(reg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /odd", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(999) })
	mw.Wrap(mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/odd", nil))
	if got, _ := sample(gather(t, reg), "http_requests_total", map[string]string{"code": "999"}); got != 1 {
		t.Errorf("http_requests_total{code=999} = %v, want 1", got)
	}
}

func TestMiddlewareAllStandardMethods(t *testing.T) {
	reg := prometheus.NewRegistry()
	mw, _ := flexmetrics.NewMiddleware(reg)
	h := mw.Wrap(http.NewServeMux())
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PROPFIND"}
	for _, m := range methods {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(m, "/", nil))
	}
	mfs := gather(t, reg)
	for _, m := range methods {
		want := m
		if m == "PROPFIND" {
			want = "other"
		}
		if _, ok := sample(mfs, "http_requests_total", map[string]string{"method": want}); !ok {
			t.Errorf("no http_requests_total{method=%q}", want)
		}
	}
}

func TestNewMiddlewareErrors(t *testing.T) {
	if _, err := flexmetrics.NewMiddleware(nil); !errors.Is(err, flexmetrics.ErrNilRegisterer) {
		t.Errorf("NewMiddleware(nil) = %v, want ErrNilRegisterer", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := flexmetrics.NewMiddleware(reg); err != nil {
		t.Fatal(err)
	}
	_, err := flexmetrics.NewMiddleware(reg)
	var already prometheus.AlreadyRegisteredError
	if !errors.As(err, &already) || !strings.HasPrefix(err.Error(), "flexmetrics: NewMiddleware: ") {
		t.Errorf("second NewMiddleware on one registry = %v, want a wrapped AlreadyRegisteredError", err)
	}

	// A failed constructor leaves the registry as it was: the collectors
	// it registered before the failure do not stay behind, or a retry
	// would fail.
	for name, construct := range map[string]func(prometheus.Registerer) error{
		"NewMiddleware": func(r prometheus.Registerer) error { _, err := flexmetrics.NewMiddleware(r); return err },
		"NewObserver":   func(r prometheus.Registerer) error { _, err := flexmetrics.NewObserver(r); return err },
	} {
		reg := prometheus.NewRegistry()
		if err := construct(&refuseSecond{Registry: reg}); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("%s with a registerer refusing the second collector: %v, want its error", name, err)
		}
		if err := construct(reg); err != nil {
			t.Errorf("%s after a failed one on the same registry: %v", name, err)
		}
	}
}

// refuseSecond is a registry that refuses the second collector registered.
type refuseSecond struct {
	*prometheus.Registry
	n int
}

func (r *refuseSecond) Register(c prometheus.Collector) error {
	if r.n++; r.n == 2 {
		return errors.New("refused")
	}
	return r.Registry.Register(c)
}

// gather serves reg as the ops server would and parses it.
func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	s, err := flexmetrics.New(flexmetrics.WithRegistry(reg), flexmetrics.WithoutEnv())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return parse(t, rec.Body.String())
}
