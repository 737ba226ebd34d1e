// Package flexmetrics is the operations side of a flexible service: a
// [Server] worker, separate from the public server, that serves Prometheus
// metrics at /metrics, the net/http/pprof profiling endpoints under
// /debug/pprof/ and the service's /livez and /readyz on :9090; a
// [Middleware] that instruments the public server by route pattern; and an
// [Observer] that turns the lifecycle events of a flex.Service into metrics.
//
// See the package example for a whole service. Settings come from options,
// then the FLEX_METRICS_* environment variables ([EnvAddr], [EnvPath],
// [EnvPprof], [EnvPprofMaxDuration]), then defaults.
//
// # Health
//
// [WithHealth] serves the service's health in detail, each failing check's
// error text included, for the operators and probes that reach this port;
// the public server (flexhttp.WithHealth) serves it tersely. See
// [WithHealthDetail].
//
// # Registry
//
// Each Server built without [WithRegistry] serves its own registry, from
// [NewRegistry], holding the Go and process collectors: two servers share
// nothing, and nothing is registered on prometheus.DefaultRegisterer.
// Register the application's collectors on [Server.Registry], and pass the
// same registry to [NewMiddleware] and [NewObserver].
//
// # Profiling
//
// The profiling endpoints are those of net/http/pprof (index, cmdline,
// profile, symbol, trace and the named profiles allocs, block, goroutine,
// heap, mutex, threadcreate), served by this package from runtime/pprof and
// runtime/trace. flexmetrics does not import net/http/pprof, whose init
// registers the endpoints on http.DefaultServeMux, where any server of the
// program serving DefaultServeMux would expose them (Kubernetes
// CVE-2019-11248 was such an exposure): flexmetrics registers no profiling
// endpoint on DefaultServeMux, and they exist only on the operations
// server. DefaultServeMux is not empty for all that: the Prometheus client
// library imports expvar, whose init registers GET /debug/vars there, which
// shows the command line and memory statistics; and any other package of
// the program that imports net/http/pprof adds the profiles. Never serve
// DefaultServeMux on a public port (flexhttp never does on its own: a nil
// Handler means 404, not DefaultServeMux).
//
// CPU profiles and traces last at most [EnvPprofMaxDuration] (30 s), and the
// server's WriteTimeout exceeds it. One CPU profile and one trace are taken
// at a time: another asked for meanwhile is refused with 429 Too Many
// Requests, so that whoever reaches the port cannot pile them up. Named profiles are not served as deltas
// (?seconds=N), which needs profile merging that net/http/pprof keeps
// internal; take two profiles and compare them with go tool pprof
// -diff_base. FLEX_METRICS_PPROF=false switches the endpoints off (404).
package flexmetrics
