package flexmetrics

import (
	"bufio"
	"bytes"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// This file serves the endpoints of net/http/pprof from runtime/pprof and
// runtime/trace, without importing net/http/pprof: that package's init
// registers its handlers on http.DefaultServeMux, so that any server in the
// program serving DefaultServeMux (http.ListenAndServe(addr, nil), an
// http.Server with a nil Handler) exposes profiles and the command line to
// whoever can reach it, the cause of real exposures such as Kubernetes
// CVE-2019-11248. flexmetrics itself registers nothing on DefaultServeMux
// (the Prometheus client library does, through expvar: see doc.go).
//
// The one difference from net/http/pprof: named profiles (heap, allocs, ...)
// are not served as deltas with ?seconds=N, which needs the profile merging
// that net/http/pprof keeps internal. Take two profiles and compare them with
// `go tool pprof -diff_base` instead.

// pprofPrefix is where the profiling endpoints are mounted.
const pprofPrefix = "/debug/pprof/"

// profiler serves the profiling endpoints. max bounds the CPU profiles and
// traces it takes; halting, once closed, ends those in progress early.
//
// It takes one CPU profile and one trace at a time: a request for another
// while one is being taken is refused with 429 Too Many Requests and a
// Retry-After of the max duration. So whoever reaches the port can keep
// at most one profile and one trace running, never pile them up: the
// runtime itself refuses a second CPU profile, but only with an error
// that net/http/pprof answers 500, and profiles waiting their turn would
// hold connections and goroutines.
type profiler struct {
	max     time.Duration
	halting <-chan struct{}
	cpu     atomic.Bool // a CPU profile is being taken
	tracing atomic.Bool // a trace is being taken
}

func (p *profiler) register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+pprofPrefix, p.index)
	mux.HandleFunc("GET "+pprofPrefix+"cmdline", cmdline)
	mux.HandleFunc("GET "+pprofPrefix+"profile", p.profile)
	mux.HandleFunc("GET "+pprofPrefix+"symbol", symbol)  // PCs in the query
	mux.HandleFunc("POST "+pprofPrefix+"symbol", symbol) // PCs in the body
	mux.HandleFunc("GET "+pprofPrefix+"trace", p.trace)
}

func cmdline(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, strings.Join(os.Args, "\x00"))
}

func serveError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Go-Pprof", "1")
	w.Header().Del("Content-Disposition")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// duration reads the seconds parameter: def when absent, an error when it
// is not a positive number or exceeds p.max.
func (p *profiler) duration(r *http.Request, def time.Duration) (time.Duration, error) {
	raw := r.FormValue("seconds")
	if raw == "" {
		return min(def, p.max), nil
	}
	sec, err := strconv.ParseFloat(raw, 64)
	if err != nil || sec <= 0 || sec != sec {
		return 0, fmt.Errorf("flexmetrics: invalid seconds %q: want a positive number", raw)
	}
	if sec > p.max.Seconds() {
		return 0, fmt.Errorf("flexmetrics: invalid seconds %q: exceeds the maximum %v (%s)", raw, p.max, EnvPprofMaxDuration)
	}
	return time.Duration(sec * float64(time.Second)), nil
}

// sleep waits for d, or until the request is cancelled or the server halts.
func (p *profiler) sleep(r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-p.halting:
	}
}

// profile serves a CPU profile, 30 s long (at most the max) or as many
// seconds as the seconds parameter says.
func (p *profiler) profile(w http.ResponseWriter, r *http.Request) {
	p.take(w, r, &p.cpu, "CPU profile", 30*time.Second, "profile", pprof.StartCPUProfile, pprof.StopCPUProfile)
}

// trace serves an execution trace, 1 s long or as many seconds as the
// seconds parameter says.
func (p *profiler) trace(w http.ResponseWriter, r *http.Request) {
	p.take(w, r, &p.tracing, "trace", time.Second, "trace", trace.Start, trace.Stop)
}

// take serves what start and stop record, for the duration the request
// asks (def when it does not say), unless busy says that one is being
// taken already. The status and headers are sent once recording has
// begun, so that a client knows its profile is being taken.
func (p *profiler) take(w http.ResponseWriter, r *http.Request, busy *atomic.Bool, what string, def time.Duration,
	filename string, start func(io.Writer) error, stop func()) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	d, err := p.duration(r, def)
	if err != nil {
		serveError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !busy.CompareAndSwap(false, true) {
		p.refuseBusy(w, fmt.Sprintf("flexmetrics: a %s is being taken already: one at a time, each at most %v (%s)",
			what, p.max, EnvPprofMaxDuration))
		return
	}
	defer busy.Store(false)
	// Set the headers before start, which may begin writing.
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	out := &lockedWriter{w: w}
	if err := start(out); err != nil {
		// Profiling started elsewhere in the program (a test's
		// -cpuprofile, a profile taken by the application itself).
		p.refuseBusy(w, "flexmetrics: cannot take a "+what+": "+err.Error())
		return
	}
	out.flush()
	p.sleep(r, d)
	stop()
}

// refuseBusy answers 429 saying msg: the profiler is busy, and will be
// free within the max duration.
func (p *profiler) refuseBusy(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(p.max.Round(time.Second)/time.Second)))
	serveError(w, http.StatusTooManyRequests, msg+"; retry later")
}

// lockedWriter lets the handler send the status and headers while the
// runtime's profile writer may write the profile from its own goroutine.
type lockedWriter struct {
	mu sync.Mutex
	w  http.ResponseWriter
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// flush sends the status and headers.
func (l *lockedWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.WriteHeader(http.StatusOK)
	http.NewResponseController(l.w).Flush()
}

// symbol maps the program counters in the query or the POST body,
// separated by '+', to function names, as pprof's symbol protocol wants.
func symbol(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var buf bytes.Buffer
	// pprof only cares whether num_symbols is 0 (no symbols) or not.
	buf.WriteString("num_symbols: 1\n")
	var in io.Reader = strings.NewReader(r.URL.RawQuery)
	if r.Method == http.MethodPost {
		in = http.MaxBytesReader(w, r.Body, 1<<20)
	}
	b := bufio.NewReader(in)
	for {
		word, err := b.ReadSlice('+')
		word = bytes.TrimSuffix(word, []byte("+"))
		if pc, _ := strconv.ParseUint(string(word), 0, 64); pc != 0 {
			if f := runtime.FuncForPC(uintptr(pc)); f != nil {
				fmt.Fprintf(&buf, "%#x %s\n", pc, f.Name())
			}
		}
		if err != nil {
			if err != io.EOF {
				fmt.Fprintf(&buf, "reading request: %v\n", err)
			}
			break
		}
	}
	w.Write(buf.Bytes())
}

// index serves the named profile at /debug/pprof/NAME, or the list of
// profiles at /debug/pprof/.
func (p *profiler) index(w http.ResponseWriter, r *http.Request) {
	if name := strings.TrimPrefix(r.URL.Path, pprofPrefix); name != "" {
		named(w, r, name)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var entries []profileEntry
	for _, prof := range pprof.Profiles() {
		entries = append(entries, profileEntry{Name: prof.Name(), Href: prof.Name(), Count: prof.Count(), Desc: descriptions[prof.Name()]})
	}
	for _, name := range []string{"cmdline", "profile", "symbol", "trace"} {
		entries = append(entries, profileEntry{Name: name, Href: name, Desc: descriptions[name]})
	}
	slices.SortFunc(entries, func(a, b profileEntry) int { return strings.Compare(a.Name, b.Name) })
	if err := indexPage.Execute(w, entries); err != nil {
		serveError(w, http.StatusInternalServerError, err.Error())
	}
}

// named serves a profile from runtime/pprof: debug=N for text, gc=1 to run
// a garbage collection before a heap profile.
func named(w http.ResponseWriter, r *http.Request, name string) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	prof := pprof.Lookup(name)
	if prof == nil {
		serveError(w, http.StatusNotFound, "Unknown profile")
		return
	}
	if r.FormValue("seconds") != "" {
		serveError(w, http.StatusBadRequest, `flexmetrics: delta profiles ("seconds") are not served for `+name+`; take two profiles and compare them with go tool pprof -diff_base`)
		return
	}
	if gc, _ := strconv.Atoi(r.FormValue("gc")); name == "heap" && gc > 0 {
		runtime.GC()
	}
	debug, _ := strconv.Atoi(r.FormValue("debug"))
	if debug != 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename=%q`, name))
	}
	prof.WriteTo(w, debug)
}

type profileEntry struct {
	Name, Href, Desc string
	Count            int
}

var descriptions = map[string]string{
	"allocs":       "A sampling of all past memory allocations",
	"block":        "Stack traces that led to blocking on synchronization primitives",
	"cmdline":      "The command line invocation of the current program",
	"goroutine":    "Stack traces of all current goroutines. Use debug=2 as a query parameter to export in the same format as an unrecovered panic.",
	"heap":         "A sampling of memory allocations of live objects. You can specify the gc GET parameter to run GC before taking the heap sample.",
	"mutex":        "Stack traces of holders of contended mutexes",
	"profile":      "CPU profile. You can specify the duration in the seconds GET parameter. After you get the profile file, use the go tool pprof command to investigate the profile.",
	"symbol":       "Maps given program counters to function names. Counters can be specified in a GET raw query or POST body, multiple counters are separated by '+'.",
	"threadcreate": "Stack traces that led to the creation of new OS threads",
	"trace":        "A trace of execution of the current program. You can specify the duration in the seconds GET parameter. After you get the trace file, use the go tool trace command to investigate the trace.",
}

var indexPage = template.Must(template.New("index").Parse(`<html>
<head><title>/debug/pprof/</title></head>
<body>
/debug/pprof/
<p>Set debug=1 as a query parameter to export in legacy text format</p>
<br>
Types of profiles available:
<table>
<thead><td>Count</td><td>Profile</td></thead>
{{range .}}<tr><td>{{if .Count}}{{.Count}}{{end}}</td><td><a href="{{.Href}}?debug=1">{{.Name}}</a></td></tr>
{{end}}</table>
<a href="goroutine?debug=2">full goroutine stack dump</a>
<br>
<p>Profile Descriptions:<ul>
{{range .}}<li><div class=profile-name>{{.Name}}: </div> {{.Desc}}</li>
{{end}}</ul></p>
</body>
</html>
`))
