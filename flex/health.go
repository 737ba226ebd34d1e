package flex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Check is a named health check. Func reports a problem by returning an
// error; it is given a context that expires after Timeout
// ([DefaultCheckTimeout] when zero) and should return promptly when it does.
type Check struct {
	Name    string
	Timeout time.Duration
	Func    func(ctx context.Context) error
}

// Health serves liveness (/livez) and readiness (/readyz) for a [Service]
// as JSON, with status 200 when every check passes and 503 otherwise:
//
//	{"status":"fail","checks":[{"name":"shutdown","status":"ok"},
//	  {"name":"worker:http","status":"fail","error":"not ready"}]}
//
// Readiness fails until every worker has started and reported ready (see
// [Readier]), fails from the instant shutdown is triggered, and runs each
// worker's [Checker] and each readiness [Check] concurrently, each under its
// own timeout. Liveness runs only the liveness checks: a process that is
// shutting down is still alive.
//
// Mount it with mux.Handle("GET /livez", h) and mux.Handle("GET /readyz", h)
// (it answers by the last path element), or use [Health.Livez] and
// [Health.Readyz]. A Health is safe for concurrent use.
type Health struct {
	readiness    []Check
	liveness     []Check
	shuttingDown atomic.Bool
	members      atomic.Pointer[[]*member]
}

func newHealth(readiness, liveness []Check) *Health {
	return &Health{readiness: readiness, liveness: liveness}
}

func (h *Health) track(members []*member) { h.members.Store(&members) }

// ServeHTTP answers requests whose path ends in /livez or /readyz, and
// 404 for any other path.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasSuffix(r.URL.Path, "/livez"):
		h.serve(w, r, h.live(r.Context()))
	case strings.HasSuffix(r.URL.Path, "/readyz"):
		h.serve(w, r, h.ready(r.Context()))
	default:
		http.NotFound(w, r)
	}
}

// Livez returns a handler that serves liveness on any path.
func (h *Health) Livez() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, h.live(r.Context())) })
}

// Readyz returns a handler that serves readiness on any path.
func (h *Health) Readyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, h.ready(r.Context())) })
}

// Ready reports whether the service is ready, running every readiness check.
func (h *Health) Ready(ctx context.Context) bool { return h.ready(ctx).Status == statusOK }

// Live reports whether the service is alive, running every liveness check.
func (h *Health) Live(ctx context.Context) bool { return h.live(ctx).Status == statusOK }

const (
	statusOK   = "ok"
	statusFail = "fail"
)

// Report is the JSON body served by [Health].
type Report struct {
	Status string        `json:"status"` // "ok" or "fail"
	Checks []CheckResult `json:"checks"`
}

// CheckResult is the outcome of one check in a [Report].
type CheckResult struct {
	Name   string `json:"name"`
	Status string `json:"status"` // "ok" or "fail"
	Error  string `json:"error,omitempty"`
}

func (h *Health) live(ctx context.Context) Report {
	return runChecks(ctx, h.liveness)
}

func (h *Health) ready(ctx context.Context) Report {
	var results []CheckResult
	add := func(name string, err error) {
		if err != nil {
			results = append(results, CheckResult{Name: name, Status: statusFail, Error: err.Error()})
		} else {
			results = append(results, CheckResult{Name: name, Status: statusOK})
		}
	}
	if h.shuttingDown.Load() {
		add("shutdown", errors.New("shutting down"))
	} else {
		add("shutdown", nil)
	}
	var checks []Check
	members := h.members.Load()
	if members == nil {
		add("workers", errors.New("not started"))
	} else {
		for _, m := range *members {
			name := "worker:" + m.name
			c, isChecker := m.w.(Checker)
			if err := m.state(); err != nil || !isChecker {
				add(name, err) // decided without calling out: no goroutine needed
				continue
			}
			checks = append(checks, Check{Name: name, Func: c.Check})
		}
	}
	report := runChecks(ctx, append(checks, h.readiness...))
	report.Checks = append(results, report.Checks...)
	for _, r := range results {
		if r.Status != statusOK {
			report.Status = statusFail
		}
	}
	return report
}

// state reports whether the member is running and ready.
func (m *member) state() error {
	switch {
	case !m.started.Load():
		return errors.New("not started")
	case m.isDone():
		return errors.New("stopped")
	case !isClosed(readyChan(m.w)):
		return errors.New("not ready")
	}
	return nil
}

// runChecks runs checks concurrently, each under its own timeout, and
// reports them in the order given. A check still running at its timeout is
// reported as failed and left to return on its own.
func runChecks(ctx context.Context, checks []Check) Report {
	results := make([]CheckResult, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runCheck(ctx, c)
		}()
	}
	wg.Wait()
	report := Report{Status: statusOK, Checks: results}
	for _, r := range results {
		if r.Status != statusOK {
			report.Status = statusFail
		}
	}
	return report
}

func runCheck(ctx context.Context, c Check) CheckResult {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	result := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				result <- fmt.Errorf("panic: %v", v)
			}
		}()
		result <- c.Func(ctx)
	}()
	var err error
	select {
	case err = <-result:
	case <-ctx.Done():
		err = fmt.Errorf("timed out after %v", timeout)
	}
	if err != nil {
		return CheckResult{Name: c.Name, Status: statusFail, Error: err.Error()}
	}
	return CheckResult{Name: c.Name, Status: statusOK}
}

func (h *Health) serve(w http.ResponseWriter, r *http.Request, report Report) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	code := http.StatusOK
	if report.Status != statusOK {
		code = http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		json.NewEncoder(w).Encode(report)
	}
}
