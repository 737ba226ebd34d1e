package flexmetrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/go-flexible/flexible/flexmetrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// BenchmarkMiddleware measures what the Middleware adds to a request: the
// same handler behind the same ServeMux pattern, served in-process to an
// httptest.ResponseRecorder, bare, then wrapped by flexmetrics, then wrapped
// by the equivalent chain of client_golang's own promhttp.InstrumentHandler*
// functions (which cannot label by route: code and method only). Each
// wrapped run reports its time and allocations as a ratio of the bare run's
// (x-bare, allocs-x-bare) and as an overhead per request (overhead-ns/op,
// overhead-allocs/op). Run them together:
//
//	go test -run '^$' -bench Middleware -benchmem
func BenchmarkMiddleware(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, r.PathValue("id"))
	})
	mw, err := flexmetrics.NewMiddleware(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	labels := []string{"code", "method"}
	inFlight := prometheus.NewGauge(prometheus.GaugeOpts{Name: "in_flight", Help: "In flight."})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "duration_seconds", Help: "Duration."}, labels)
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "requests_total", Help: "Requests."}, labels)
	reg.MustRegister(inFlight, duration, requests)
	promhttpChain := promhttp.InstrumentHandlerInFlight(inFlight,
		promhttp.InstrumentHandlerDuration(duration, promhttp.InstrumentHandlerCounter(requests, mux)))

	var bare result
	b.Run("bare", func(b *testing.B) { bare = serveN(b, mux) })
	b.Run("flexmetrics", func(b *testing.B) { compare(b, bare, serveN(b, mw.Wrap(mux))) })
	b.Run("promhttp", func(b *testing.B) { compare(b, bare, serveN(b, promhttpChain)) })
}

// compare reports got relative to the bare run.
func compare(b *testing.B, bare, got result) {
	if bare.ns == 0 {
		return // the bare run was filtered out: no ratio
	}
	b.ReportMetric(got.ns/bare.ns, "x-bare")
	b.ReportMetric(got.ns-bare.ns, "overhead-ns/op")
	b.ReportMetric(got.allocs-bare.allocs, "overhead-allocs/op")
	if bare.allocs > 0 {
		b.ReportMetric(got.allocs/bare.allocs, "allocs-x-bare")
	}
}

type result struct{ ns, allocs float64 }

// serveN serves b.N requests with h and returns the time and allocations
// per request of this run; the benchmark framework keeps the last, longest
// run, and so does the caller.
func serveN(b *testing.B, h http.Handler) result {
	b.ReportAllocs()
	req := httptest.NewRequest("GET", "/orders/42", nil)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	return result{
		ns:     float64(b.Elapsed().Nanoseconds()) / float64(b.N),
		allocs: float64(after.Mallocs-before.Mallocs) / float64(b.N),
	}
}
