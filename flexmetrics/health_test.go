package flexmetrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexhttp"
	"github.com/go-flexible/flexible/flexmetrics"
)

// dbError stands for what a failing check's error may reveal: host names,
// user names, SQL states.
const dbError = "dial tcp db-primary.internal:5432: password authentication failed for user orders (SQLSTATE 28P01)"

// The service's health, mounted on both servers as the README shows: the
// operations server's /readyz carries a failing check's error text, the
// public server's does not, and both say which check fails.
func TestHealthDetailOnOpsPortOnly(t *testing.T) {
	svc := flex.New(flex.WithReadinessCheck(flex.Check{Name: "database",
		Func: func(context.Context) error { return errors.New(dbError) }}))

	_, ops := start(t, flexmetrics.WithHealth(svc.Health()))
	api, err := flexhttp.New(&http.Server{}, flexhttp.WithAddr("127.0.0.1:0"), flexhttp.WithLogger(quiet),
		flexhttp.WithHealth(svc.Health()))
	if err != nil {
		t.Fatal(err)
	}
	public := runHTTP(t, api)

	for _, tt := range []struct {
		name, url string
		detail    bool
	}{{"ops", ops, true}, {"public", public, false}} {
		code, body := get(t, tt.url+"/readyz")
		if code != http.StatusServiceUnavailable {
			t.Errorf("%s GET /readyz = %d, want 503", tt.name, code)
		}
		var report flex.Report
		if err := json.Unmarshal([]byte(body), &report); err != nil {
			t.Fatalf("%s GET /readyz = %q: %v", tt.name, body, err)
		}
		var database *flex.CheckResult
		for i, c := range report.Checks {
			if c.Name == "database" {
				database = &report.Checks[i]
			}
		}
		if database == nil || database.Status != "fail" {
			t.Fatalf("%s GET /readyz = %s, want check database failing", tt.name, body)
		}
		if got := database.Error == dbError; got != tt.detail {
			t.Errorf("%s GET /readyz = %s: error text served %v, want %v", tt.name, body, got, tt.detail)
		}
		if !tt.detail && strings.Contains(body, "db-primary") {
			t.Errorf("%s GET /readyz = %s reveals the database's host", tt.name, body)
		}
	}
}

// WithHealthDetail(false) makes the operations server as terse as the
// public one, for an operations port that others can reach.
func TestWithHealthDetailOff(t *testing.T) {
	svc := flex.New(flex.WithLivenessCheck(flex.Check{Name: "deadlock",
		Func: func(context.Context) error { return errors.New(dbError) }}))
	_, ops := start(t, flexmetrics.WithHealth(svc.Health()), flexmetrics.WithHealthDetail(false))
	code, body := get(t, ops+"/livez")
	if want := `{"status":"fail","checks":[{"name":"deadlock","status":"fail"}]}`; code != http.StatusServiceUnavailable || strings.TrimSpace(body) != want {
		t.Errorf("GET /livez = %d %s, want 503 %s", code, body, want)
	}
}

// runHTTP runs s until the test ends and returns its base URL once ready.
func runHTTP(t *testing.T, s *flexhttp.Server) string {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		s.Halt(ctx)
		<-done
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run returned %v before ready", err)
	case <-time.After(wait):
		t.Fatalf("not ready after %v", wait)
	}
	return "http://" + s.Addr()
}
