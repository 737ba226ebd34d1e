package flexhttp_test

import (
	"encoding/json"
	"io"
	"net/http"
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
