package flexmetrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexmetrics"
)

// FuzzEnv feeds any text to the FLEX_METRICS_* variables. New either
// refuses it with an error naming the variable and quoting its value, or
// builds a server on the address given that serves metrics at the path
// given. The seeds are the values of TestInvalidConfig and the defaults.
func FuzzEnv(f *testing.F) {
	for _, seed := range [][4]string{
		{"", "", "", ""}, {":9090", "/metrics", "true", "30s"}, {"abc", "", "", ""}, {":99999", "", "", ""},
		{"", "metrics", "", ""}, {"", "/metrics/", "", ""}, {"", "/", "", ""}, {"", "/m/{x}", "", ""},
		{"", "/a//b", "", ""}, {"", "/debug/pprof/heap", "", ""}, {"", "/readyz", "", ""}, {"", "/livez/x", "", ""},
		{"", "", "maybe", ""}, {"", "", "0", "forever"}, {"", "", "F", "500ms"}, {"", "", "", "2562047h"},
		{"[::1]:0", "/m\u00e9trics", "TRUE", "1s"}, {"", "/debug/pprofx", "", ""}, {"", "/%2e", "", "1e3s"},
		{"", "/a/./b", "", ""}, {"", "/.", "", ""}, {"", "/metrics/..", "", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, addr, path, pprof, maxDuration string) {
		env := map[string]string{flexmetrics.EnvAddr: addr, flexmetrics.EnvPath: path,
			flexmetrics.EnvPprof: pprof, flexmetrics.EnvPprofMaxDuration: maxDuration}
		for k, v := range env {
			if strings.ContainsRune(v, 0) {
				return // the environment cannot hold NUL
			}
			t.Setenv(k, v)
		}
		s, err := flexmetrics.New(flexmetrics.WithLogger(quiet))
		if err != nil {
			for k, v := range env {
				if strings.HasPrefix(err.Error(), fmt.Sprintf("flexmetrics: invalid %s %q: ", k, v)) {
					return
				}
			}
			t.Fatalf("error %q names none of the variables", err)
		}
		if want := "metrics(" + cmpOr(addr, flexmetrics.DefaultAddr) + ")"; s.String() != want {
			t.Errorf("server %s, want %s", s, want)
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL = &url.URL{Path: cmpOr(path, flexmetrics.DefaultPath)}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s = %d, want the metrics", req.URL.Path, rec.Code)
		}
	})
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// FuzzPprofRequest sends any path under /debug/pprof/ with any query, by
// GET or by POST with any body, to the profiling endpoints, with a max
// duration of 1s. Each answers a profile or a client error, never a server
// error; a CPU profile or trace taken never lasts longer than the max, and
// none is asked for longer than it is refused. The request's context is
// done from the start, so that a profile taken ends at once.
func FuzzPprofRequest(f *testing.F) {
	for _, seed := range []struct {
		path, query string
		post        bool
		body        string
	}{
		{"", "", false, ""}, {"cmdline", "", false, ""}, {"profile", "seconds=1", false, ""},
		{"profile", "seconds=3", false, ""}, {"trace", "seconds=2.5", false, ""}, {"profile", "seconds=abc", false, ""},
		{"trace", "seconds=-1", false, ""}, {"heap", "seconds=5", false, ""}, {"nosuchprofile", "", false, ""},
		{"symbol", "0x401000+0x0", false, ""}, {"symbol", "", true, "0x401000+junk+"}, {"goroutine", "debug=2", false, ""},
		{"heap", "gc=1&debug=1", false, ""}, {"profile", "seconds=NaN", false, ""}, {"profile", "seconds=Inf", false, ""},
		{"profile", "seconds=1e-300", false, ""}, {"trace", "seconds=0x1p-2", false, ""}, {"allocs", "debug=-1", false, ""},
		{"mutex", "debug=99999999999999999999", false, ""}, {"threadcreate", "seconds=", false, ""}, {"block", "%zz", false, ""},
	} {
		f.Add(seed.path, seed.query, seed.post, []byte(seed.body))
	}
	s, err := flexmetrics.New(flexmetrics.WithoutEnv(), flexmetrics.WithLogger(quiet), flexmetrics.WithPprofMaxDuration(time.Second))
	if err != nil {
		f.Fatal(err)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	f.Fuzz(func(t *testing.T, path, query string, post bool, body []byte) {
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		req := httptest.NewRequestWithContext(done, method, "/", strings.NewReader(string(body)))
		req.URL = &url.URL{Path: "/debug/pprof/" + path, RawQuery: query}
		rec := httptest.NewRecorder()
		began := time.Now()
		s.Handler().ServeHTTP(rec, req)
		took := time.Since(began)
		if rec.Code >= 500 {
			t.Fatalf("%s %s?%s = %d %q", method, req.URL.Path, query, rec.Code, rec.Body)
		}
		if (path == "profile" || path == "trace") && rec.Code == http.StatusOK {
			if took > 5*time.Second { // a hang guard, far above the 1s max
				t.Errorf("GET %s?%s took %v, more than the max 1s", path, query, took)
			}
			if sec := req.URL.Query().Get("seconds"); sec != "" && !validSeconds(sec) {
				t.Errorf("GET %s?%s: taken for seconds=%q", path, query, sec)
			}
		}
	})
}

// validSeconds reports whether sec is a number of seconds from 0 (not
// included) to 1.
func validSeconds(sec string) bool {
	var f float64
	if _, err := fmt.Sscan(sec, &f); err != nil {
		return true // ParseFloat reads forms Sscan does not; the handler checked it
	}
	return f > 0 && f <= 1
}
