package flexmetrics

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Middleware instruments the handlers of a public HTTP server with the RED
// metrics, named by the Prometheus conventions:
//
//	http_requests_total{code, method, route}                    counter
//	http_request_duration_seconds{code, method, route}          histogram
//	http_requests_in_flight                                      gauge
//
// route is the pattern of the [http.ServeMux] that routed the request, such
// as "GET /orders/{id}" (read from Request.Pattern after the mux has run),
// or "unmatched" when no pattern matched, never the raw path: its number of
// values is bounded by the program, not by the clients. method is one of
// the methods of RFC 9110 and PATCH, or "other"; code is the status code
// written, 200 when the handler wrote none.
//
// Wrap the ServeMux itself (Wrap(mux)): the mux sets Pattern on the request
// it is given, so a middleware between Wrap and the mux that replaces the
// request (r.WithContext) hides the pattern and every request is counted as
// "unmatched". A Middleware is safe for concurrent use and may wrap several
// handlers, whose requests it counts together.
type Middleware struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// NewMiddleware returns a Middleware whose metrics are registered on reg.
// It returns [ErrNilRegisterer] when reg is nil, and the registry's error
// when the metrics are already registered on reg (by another Middleware):
// share one Middleware instead.
func NewMiddleware(reg prometheus.Registerer) (*Middleware, error) {
	if reg == nil {
		return nil, ErrNilRegisterer
	}
	m := &Middleware{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by status code, method and ServeMux route pattern.",
		}, []string{"code", "method", "route"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by status code, method and ServeMux route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"code", "method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
	}
	if err := register(reg, m.requests, m.duration, m.inFlight); err != nil {
		return nil, fmt.Errorf("flexmetrics: NewMiddleware: %w", err)
	}
	return m, nil
}

// Wrap returns a handler that serves requests with next and records them.
// A request whose handler panics is recorded with code 500 when nothing
// was written, and the panic goes on.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		m.inFlight.Inc()
		rw := &responseWriter{ResponseWriter: w}
		returned := false
		defer func() {
			m.inFlight.Dec()
			code := rw.code
			if code == 0 {
				code = http.StatusOK
				if !returned {
					code = http.StatusInternalServerError
				}
			}
			route := r.Pattern // set by the ServeMux on this very request
			if route == "" {
				route = "unmatched"
			}
			labels := [3]string{statusText(code), methodLabel(r.Method), route}
			m.requests.WithLabelValues(labels[:]...).Inc()
			m.duration.WithLabelValues(labels[:]...).Observe(time.Since(began).Seconds())
		}()
		next.ServeHTTP(rw, r)
		returned = true
	})
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodConnect:
		return http.MethodConnect
	case http.MethodOptions:
		return http.MethodOptions
	case http.MethodTrace:
		return http.MethodTrace
	}
	return "other"
}

// codes holds the status codes 100 to 599 as strings, so that labelling a
// request does not allocate.
var codes = func() (c [500]string) {
	for i := range c {
		c[i] = strconv.Itoa(i + 100)
	}
	return c
}()

func statusText(code int) string {
	if code >= 100 && code < 600 {
		return codes[code-100]
	}
	return strconv.Itoa(code)
}

// responseWriter records the status code. It keeps http.Flusher for
// streaming handlers and Unwrap for http.ResponseController (which reaches
// Hijack, SetReadDeadline, EnableFullDuplex and the rest through it).
type responseWriter struct {
	http.ResponseWriter
	code int
}

func (w *responseWriter) WriteHeader(code int) {
	if w.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// WriteString writes s without converting it to a []byte when the wrapped
// ResponseWriter can do so too, as net/http's own can (io.StringWriter).
func (w *responseWriter) WriteString(s string) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return io.WriteString(w.ResponseWriter, s)
}

// Flush sends buffered data to the client, as http.Flusher.
func (w *responseWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack lets the handler take over the connection, as http.Hijacker,
// when the underlying ResponseWriter can; otherwise it returns an error
// wrapping http.ErrNotSupported.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
