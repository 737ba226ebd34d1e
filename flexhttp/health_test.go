package flexhttp_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexhttp"
)

func appHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") })
}

// WithHealth serves the health handler at exactly /livez and /readyz and
// leaves every other path to the server's handler.
func TestWithHealthMountsLivezReadyz(t *testing.T) {
	svc := flex.New() // not started: alive, not ready
	s := newServer(t, &http.Server{Handler: appHandler()}, flexhttp.WithHealth(svc.Health()))
	run(t, s)
	c := newClient(t)
	base := "http://" + s.Addr()

	tests := []struct {
		path   string
		code   int
		status string // the health report's status, or "" for the app
	}{
		{flexhttp.LivezPath, http.StatusOK, "ok"},
		{flexhttp.ReadyzPath, http.StatusServiceUnavailable, "fail"},
		{"/", http.StatusOK, ""},
		{"/orders", http.StatusOK, ""},
		{"/api/livez", http.StatusOK, ""},
		{"/livez/", http.StatusOK, ""},
	}
	for _, tt := range tests {
		got := get(c, base+tt.path)
		if got.err != nil || got.code != tt.code {
			t.Errorf("GET %s = %d, %v; want %d", tt.path, got.code, got.err, tt.code)
			continue
		}
		if tt.status == "" {
			if got.body != "app" {
				t.Errorf("GET %s = %q, want the app's \"app\"", tt.path, got.body)
			}
			continue
		}
		var report flex.Report
		if err := json.Unmarshal([]byte(got.body), &report); err != nil || report.Status != tt.status {
			t.Errorf("GET %s = %q, want a health report with status %q", tt.path, got.body, tt.status)
		}
	}
}

// Without WithHealth the caller's handler serves every path, /livez too.
func TestWithoutHealthHandlerUntouched(t *testing.T) {
	h := appHandler()
	srv := &http.Server{Handler: h}
	s := newServer(t, srv)
	run(t, s)
	if got := get(newClient(t), "http://"+s.Addr()+flexhttp.LivezPath); got.body != "app" {
		t.Errorf("GET /livez = %d %q, want the app's \"app\"", got.code, got.body)
	}
}

// WithHealth on a server without a handler makes a health-only server.
func TestWithHealthOnly(t *testing.T) {
	s := newServer(t, nil, flexhttp.WithHealth(flex.New().Health()))
	run(t, s)
	c := newClient(t)
	if got := get(c, "http://"+s.Addr()+"/livez"); got.code != http.StatusOK {
		t.Errorf("GET /livez = %d, want 200", got.code)
	}
	if got := get(c, "http://"+s.Addr()+"/"); got.code != http.StatusNotFound {
		t.Errorf("GET / = %d, want 404", got.code)
	}
}

// secret stands for what a failing check's error may reveal: host names,
// user names, SQL states.
const secret = "dial tcp db-primary.internal:5432: password authentication failed for user orders (SQLSTATE 28P01)"

func failingService() *flex.Service {
	fail := func(context.Context) error { return errors.New(secret) }
	return flex.New(
		flex.WithReadinessCheck(flex.Check{Name: "database", Func: fail}),
		flex.WithLivenessCheck(flex.Check{Name: "deadlock", Func: fail}),
	)
}

// WithHealth answers tersely by default: the status code, the overall
// status and each check's name and status, never a check's error text.
// WithHealthDetail(true) serves the report as it is.
func TestHealthIsTerseUnlessDetailed(t *testing.T) {
	for _, detail := range []bool{false, true} {
		t.Run(fmt.Sprintf("detail=%v", detail), func(t *testing.T) {
			opts := []flexhttp.Option{flexhttp.WithHealth(failingService().Health())}
			if detail {
				opts = append(opts, flexhttp.WithHealthDetail(true))
			}
			s := newServer(t, &http.Server{Handler: appHandler()}, opts...)
			run(t, s)
			c := newClient(t)
			for _, tt := range []struct{ path, check string }{{flexhttp.ReadyzPath, "database"}, {flexhttp.LivezPath, "deadlock"}} {
				got := get(c, "http://"+s.Addr()+tt.path)
				if got.err != nil || got.code != http.StatusServiceUnavailable {
					t.Fatalf("GET %s = %d, %v; want 503", tt.path, got.code, got.err)
				}
				if leaked := strings.Contains(got.body, secret); leaked != detail {
					t.Errorf("GET %s = %s: error text present %v, want %v", tt.path, got.body, leaked, detail)
				}
				var report flex.Report
				if err := json.Unmarshal([]byte(got.body), &report); err != nil || report.Status != "fail" {
					t.Fatalf("GET %s = %q, want a failing report", tt.path, got.body)
				}
				i := slices.IndexFunc(report.Checks, func(c flex.CheckResult) bool { return c.Name == tt.check })
				if i < 0 || report.Checks[i].Status != "fail" {
					t.Errorf("GET %s = %s, want check %q failing", tt.path, got.body, tt.check)
				}
			}
		})
	}
}

// The terse form keeps nothing of the handler's answer but its status code
// and the names and statuses of a flex.Report's checks: not its headers,
// not a body of another shape, not a status other than ok or fail, and no
// body for HEAD.
func TestTerseHealthKeepsOnlyNamesAndStatuses(t *testing.T) {
	tests := []struct {
		name, body string
		code       int
		method     string
		want       string
	}{
		{"report", `{"status":"fail","checks":[{"name":"a","status":"ok","error":"x"},{"name":"b","status":"broken","latency":"9s"}],"host":"h"}`,
			503, "GET", `{"status":"fail","checks":[{"name":"a","status":"ok"},{"name":"b","status":"fail"}]}`},
		{"plain text", "database db-primary.internal is down", 500, "GET", `{"status":"fail"}`},
		{"ok without body", "", 0, "GET", `{"status":"ok"}`},
		{"status from the code", `{"status":"ok"}`, 503, "GET", `{"status":"fail"}`},
		{"head", `{"status":"ok","checks":[{"name":"a","status":"ok"}]}`, 200, "HEAD", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Backend", "db-primary.internal")
				if tt.code != 0 {
					w.WriteHeader(tt.code)
				}
				io.WriteString(w, tt.body)
			})
			srv := &http.Server{}
			if _, err := flexhttp.New(srv, flexhttp.WithAddr("127.0.0.1:0"), flexhttp.WithHealth(inner)); err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			srv.Handler.ServeHTTP(rec, httptest.NewRequest(tt.method, flexhttp.ReadyzPath, nil))
			wantCode := cmp.Or(tt.code, http.StatusOK)
			if got := strings.TrimSpace(rec.Body.String()); rec.Code != wantCode || got != tt.want {
				t.Errorf("answer = %d %s, want %d %s", rec.Code, got, wantCode, tt.want)
			}
			if got := rec.Header().Get("X-Backend"); got != "" {
				t.Errorf("header X-Backend = %q passed on", got)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
		})
	}
}
