package flex_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-flexible/flexible/flex"
)

func probeHealth(t *testing.T, h http.Handler, path string) (int, flex.Report) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var report flex.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &report); err != nil {
		t.Fatalf("GET %s: body %q: %v", path, rec.Body, err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	return rec.Code, report
}

func checkStatus(report flex.Report, name string) (status, errText string) {
	for _, c := range report.Checks {
		if c.Name == name {
			return c.Status, c.Error
		}
	}
	return "missing", ""
}

func TestReadinessFollowsTheLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		events := newEventLog()
		svc := flex.New(quiet(nil, flex.WithObserver(events))...)
		h := svc.Health()
		if code, report := probeHealth(t, h, "/readyz"); code != http.StatusServiceUnavailable || report.Status != "fail" {
			t.Errorf("before Start: %d %v, want 503", code, report)
		}
		plain := newProbe("plain")
		slow := &readyProbe{probe: newProbe("slow"), ready: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		result := startAsync(ctx, svc, plain, slow)
		<-plain.started
		<-slow.started
		code, report := probeHealth(t, h, "/readyz")
		if code != http.StatusServiceUnavailable {
			t.Errorf("one worker not ready: %d, want 503", code)
		}
		if st, msg := checkStatus(report, "worker:slow"); st != "fail" || msg != "not ready" {
			t.Errorf("worker:slow = %s %q, want fail \"not ready\"", st, msg)
		}
		if st, _ := checkStatus(report, "worker:plain"); st != "ok" {
			t.Errorf("worker:plain = %s, want ok", st)
		}
		close(slow.ready)
		if code, report := probeHealth(t, h, "/readyz"); code != http.StatusOK || report.Status != "ok" {
			t.Errorf("all ready: %d %+v, want 200", code, report)
		}
		if code, _ := probeHealth(t, h, "/livez"); code != http.StatusOK {
			t.Errorf("livez while running: %d", code)
		}
		halting := events.next(flex.EventWorkerHalting)
		cancel()
		<-halting
		if code, report := probeHealth(t, h, "/readyz"); code != http.StatusServiceUnavailable {
			t.Errorf("during shutdown: %d %+v, want 503", code, report)
		} else if st, msg := checkStatus(report, "shutdown"); st != "fail" || msg != "shutting down" {
			t.Errorf("shutdown check = %s %q", st, msg)
		}
		if code, _ := probeHealth(t, h, "/livez"); code != http.StatusOK {
			t.Errorf("livez during shutdown: %d, want 200 (still alive)", code)
		}
		<-result
		if _, report := probeHealth(t, h, "/readyz"); report.Status != "fail" {
			t.Error("ready after stop")
		} else if st, msg := checkStatus(report, "worker:plain"); st != "fail" || msg != "stopped" {
			t.Errorf("worker:plain after stop = %s %q", st, msg)
		}
	})
}

type checkerProbe struct {
	*probe
	err error
}

func (c *checkerProbe) Check(context.Context) error { return c.err }

func TestNamedChecksAndCheckers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errDB := errors.New("db down")
		hung := make(chan struct{})
		svc := flex.New(quiet(nil,
			flex.WithReadinessCheck(flex.Check{Name: "db", Func: func(context.Context) error { return errDB }}),
			flex.WithReadinessCheck(flex.Check{Name: "cache", Timeout: time.Second, Func: func(ctx context.Context) error {
				<-hung // ignores its context: reported at the timeout anyway
				return nil
			}}),
			flex.WithReadinessCheck(flex.Check{Name: "panics", Func: func(context.Context) error { panic("oops") }}),
			flex.WithLivenessCheck(flex.Check{Name: "deadlock", Func: func(context.Context) error { return errors.New("stuck") }}),
		)...)
		broker := &checkerProbe{probe: newProbe("broker"), err: errors.New("unreachable")}
		ctx, cancel := context.WithCancel(context.Background())
		result := startAsync(ctx, svc, broker)
		<-broker.started

		began := time.Now()
		code, report := probeHealth(t, svc.Health(), "/readyz")
		if got := time.Since(began); got != time.Second {
			t.Errorf("readiness took %v, want the 1s timeout of the slowest check", got)
		}
		if code != http.StatusServiceUnavailable {
			t.Errorf("readyz = %d, want 503", code)
		}
		for name, want := range map[string]string{"db": "db down", "cache": "timed out after 1s",
			"panics": "panic: oops", "worker:broker": "unreachable"} {
			if st, msg := checkStatus(report, name); st != "fail" || msg != want {
				t.Errorf("%s = %s %q, want fail %q", name, st, msg, want)
			}
		}
		broker.err = nil
		if code, report := probeHealth(t, svc.Health(), "/livez"); code != http.StatusServiceUnavailable {
			t.Errorf("livez = %d, want 503", code)
		} else if st, msg := checkStatus(report, "deadlock"); st != "fail" || msg != "stuck" {
			t.Errorf("deadlock = %s %q", st, msg)
		}
		close(hung)
		cancel()
		<-result
	})
}

func TestHealthHandlers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := flex.New(quiet(nil)...)
		h := svc.Health()
		a := newProbe("a")
		ctx, cancel := context.WithCancel(context.Background())
		result := startAsync(ctx, svc, a)
		<-a.started
		if code, _ := probeHealth(t, h.Readyz(), "/anything"); code != http.StatusOK {
			t.Errorf("Readyz() = %d", code)
		}
		if code, _ := probeHealth(t, h.Livez(), "/anything"); code != http.StatusOK {
			t.Errorf("Livez() = %d", code)
		}
		if !h.Live(context.Background()) || !h.Ready(context.Background()) {
			t.Error("Live or Ready false while running")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/elsewhere", nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("other path = %d, want 404", rec.Code)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/healthz/readyz", nil))
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("HEAD = %d, body %q, Cache-Control %q", rec.Code, rec.Body, rec.Header().Get("Cache-Control"))
		}
		cancel()
		<-result
	})
}

func TestHealthOverHTTP(t *testing.T) {
	svc := flex.New(quiet(nil)...)
	mux := http.NewServeMux()
	mux.Handle("GET /livez", svc.Health())
	mux.Handle("GET /readyz", svc.Health())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var report flex.Report
	if err := json.NewDecoder(resp.Body).Decode(&report); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(report.Checks[1].Error, "not started") {
		t.Errorf("GET /readyz before Start = %d %+v", resp.StatusCode, report)
	}
}
