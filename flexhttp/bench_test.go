package flexhttp_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexhttp"
)

// The servers compared, all with the same handler, on loopback:
//   - raw: http.Server as commonly written, with no timeouts;
//   - raw-timeouts: http.Server with the timeouts flexhttp fills in, so that
//     flexhttp against raw-timeouts is the cost of flexhttp itself (it should
//     be none: flexhttp serves the caller's handler as it is), and flexhttp
//     against raw the cost of the timeouts as well;
//   - flexhttp: New with no handler wrapping;
//   - flexhttp-health: New with WithHealth, whose path check runs on every
//     request.
//
// Run them with
//
//	go test -run '^$' -bench . -count 5 .
var benchServers = []struct {
	name  string
	start func(b *testing.B, h http.Handler) (addr string)
}{
	{"raw", func(b *testing.B, h http.Handler) string {
		return startRaw(b, &http.Server{Handler: h})
	}},
	{"raw-timeouts", func(b *testing.B, h http.Handler) string {
		return startRaw(b, &http.Server{Handler: h,
			ReadHeaderTimeout: flexhttp.DefaultReadHeaderTimeout, ReadTimeout: flexhttp.DefaultReadTimeout,
			WriteTimeout: flexhttp.DefaultWriteTimeout, IdleTimeout: flexhttp.DefaultIdleTimeout})
	}},
	{"flexhttp", func(b *testing.B, h http.Handler) string {
		return startFlex(b, h)
	}},
	{"flexhttp-health", func(b *testing.B, h http.Handler) string {
		return startFlex(b, h, flexhttp.WithHealth(flex.New().Health()))
	}},
}

var benchBody = []byte("hello, world\n")

func benchHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(benchBody) })
}

func startRaw(b *testing.B, srv *http.Server) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func startFlex(b *testing.B, h http.Handler, opts ...flexhttp.Option) string {
	opts = append([]flexhttp.Option{flexhttp.WithAddr("127.0.0.1:0"), flexhttp.WithLogger(discard), flexhttp.WithoutEnv()}, opts...)
	s, err := flexhttp.New(&http.Server{Handler: h}, opts...)
	if err != nil {
		b.Fatal(err)
	}
	go s.Run(context.Background())
	b.Cleanup(func() { s.Halt(context.Background()) })
	<-s.Ready()
	return s.Addr()
}

// benchClient is a keep-alive client with enough idle connections for
// RunParallel's goroutines.
func benchClient(b *testing.B) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 4 * runtime.GOMAXPROCS(0)}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func doGet(b *testing.B, c *http.Client, url string) bool {
	resp, err := c.Get(url)
	if err != nil {
		b.Error(err)
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return true
}

// BenchmarkServe measures requests per second through each server, side by
// side, from parallel goroutines over keep-alive connections.
func BenchmarkServe(b *testing.B) {
	for _, srv := range benchServers {
		b.Run(srv.name, func(b *testing.B) {
			url := "http://" + srv.start(b, benchHandler()) + "/"
			c := benchClient(b)
			doGet(b, c, url) // dial before timing
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !doGet(b, c, url) {
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// BenchmarkServeInterleaved compares the servers under the same load at the
// same moments, which BenchmarkServe cannot on a shared machine: each
// operation does one request to every server, in an order that rotates,
// and times each. It reports the median time per request of each server
// (the median, since a shared machine stalls now and then and one stall
// would swamp a mean) and the ratios of throughput, which are the inverse
// ratios of those medians: flexhttp/raw-timeouts is the cost of flexhttp
// itself, 1 when it adds nothing; under 1 means flexhttp is slower.
func BenchmarkServeInterleaved(b *testing.B) {
	n := len(benchServers)
	urls := make([]string, n)
	for i, srv := range benchServers {
		urls[i] = "http://" + srv.start(b, benchHandler()) + "/"
	}
	c := benchClient(b)
	for _, url := range urls {
		doGet(b, c, url)
	}
	var (
		mu    sync.Mutex
		spent = make([][]time.Duration, n)
		turn  atomic.Uint64
	)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mine := make([][]time.Duration, n)
		first := int(turn.Add(1))
		for pb.Next() {
			first++
			for k := range n {
				i := (first + k) % n
				began := time.Now()
				if !doGet(b, c, urls[i]) {
					return
				}
				mine[i] = append(mine[i], time.Since(began))
			}
		}
		mu.Lock()
		for i := range mine {
			spent[i] = append(spent[i], mine[i]...)
		}
		mu.Unlock()
	})
	b.StopTimer()
	median := make(map[string]float64, n)
	for i, srv := range benchServers {
		slices.Sort(spent[i])
		median[srv.name] = float64(spent[i][len(spent[i])/2])
		b.ReportMetric(median[srv.name], srv.name+"-p50-ns/req")
	}
	b.ReportMetric(median["raw-timeouts"]/median["flexhttp"], "flexhttp/raw-timeouts")
	b.ReportMetric(median["raw"]/median["flexhttp"], "flexhttp/raw")
	b.ReportMetric(median["raw-timeouts"]/median["flexhttp-health"], "health/raw-timeouts")
	b.ReportMetric(0, "ns/op") // an op is n requests; the metrics above say more
}
