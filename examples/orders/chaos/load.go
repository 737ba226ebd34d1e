//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// load is the traffic of a scenario: orders started per second for a
// while, then the audit, which waits at most settle for the workflow.
type load struct {
	rate   float64
	d      time.Duration
	settle time.Duration
}

// load returns the scenario's traffic: a duration long enough for its
// faults, at the suite's rate.
func (e *scenarioEnv) load(d time.Duration) load {
	rate := 40.0
	if e.short {
		rate = 15
	}
	return load{rate: rate, d: d, settle: 90 * time.Second}
}

// loadRun is the load generator running against the order system.
type loadRun struct {
	name     string
	cmd      *exec.Cmd
	jsonPath string
	outPath  string
	done     chan error
}

// startLoad runs the load generator against url with l, auditing db
// afterwards. Creates are retried with their Idempotency-Key, riding over
// restarts; the dead letters are checked in the logs instead of one
// replica's counter, which a restart resets.
func (e *scenarioEnv) startLoad(name, url string, db database, l load) (*loadRun, error) {
	lr := &loadRun{
		name:     name,
		jsonPath: filepath.Join(e.dir, name+".json"),
		outPath:  filepath.Join(e.dir, name+".out"),
		done:     make(chan error, 1),
	}
	out, err := os.Create(lr.outPath)
	if err != nil {
		return nil, err
	}
	lr.cmd = exec.Command(e.bin.loadgen,
		"-url", url, "-rate", strconv.FormatFloat(l.rate, 'f', -1, 64), "-d", l.d.String(),
		"-retries", "12", "-timeout", "10s",
		"-audit", "-settle", l.settle.String(), "-database-url", db.audit, "-ops-url", "",
		"-json", lr.jsonPath)
	lr.cmd.Env = cleanEnv()
	lr.cmd.Stdout, lr.cmd.Stderr = out, out
	if err := lr.cmd.Start(); err != nil {
		out.Close()
		return nil, err
	}
	e.logf("load: %.0f orders/s for %s against %s", l.rate, l.d, url)
	go func() {
		err := lr.cmd.Wait()
		out.Close()
		lr.done <- err
	}()
	return lr, nil
}

// loadReport is what loadgen -json writes (see ../loadgen/report.go).
type loadReport struct {
	OrdersCreated int     `json:"orders_created"`
	OrdersPerSec  float64 `json:"orders_per_second"`
	Latency       map[string]struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	} `json:"latency_ms"`
	Errors  map[string]int `json:"errors"`
	Unknown int            `json:"creates_unknown_outcome"`
	Audit   *struct {
		Settled       bool           `json:"settled"`
		SettleSeconds float64        `json:"settle_seconds"`
		Resolved      int            `json:"resolved"`
		States        map[string]int `json:"states"`
		Violations    []struct {
			Check  string `json:"check"`
			Detail string `json:"detail"`
		} `json:"violations"`
	} `json:"audit"`
}

// wait waits for the load and its audit, records the figures in r and
// fails r for every violation, for any 5xx answer but 503 (the answer
// that says "retry"), and for an audit that did not run.
func (lr *loadRun) wait(ctx context.Context, r *result) *loadReport {
	select {
	case err := <-lr.done:
		if err != nil && !isExit1(err) {
			r.failf("loadgen %s: %v; its output:\n%s", lr.name, err, tail(lr.outPath))
		}
	case <-ctx.Done():
		lr.cmd.Process.Kill()
		<-lr.done
		r.failf("loadgen %s: interrupted", lr.name)
		return nil
	}
	data, err := os.ReadFile(lr.jsonPath)
	if err != nil {
		r.failf("loadgen %s wrote no report: %v; its output:\n%s", lr.name, err, tail(lr.outPath))
		return nil
	}
	var rep loadReport
	if err := json.Unmarshal(data, &rep); err != nil {
		r.failf("loadgen %s: its report: %v", lr.name, err)
		return nil
	}
	lr.judge(&rep, r)
	return &rep
}

func (lr *loadRun) judge(rep *loadReport, r *result) {
	if rep.Audit == nil {
		r.failf("loadgen %s: no audit in its report; its output:\n%s", lr.name, tail(lr.outPath))
		return
	}
	for _, v := range rep.Audit.Violations {
		r.failf("audit: %s: %s", v.Check, v.Detail)
	}
	for status, n := range rep.Errors {
		if strings.HasPrefix(status, "5") && status != "503" {
			r.failf("loadgen %s: %d answers %s", lr.name, n, status)
		}
	}
	create := rep.Latency["create"]
	r.note("%d orders created (%.1f/s), create p50 %s p99 %s, errors %s, settled in %.1fs",
		rep.OrdersCreated, rep.OrdersPerSec, msString(create.P50), msString(create.P99),
		countsOf(rep.Errors), rep.Audit.SettleSeconds)
	r.orders += rep.OrdersCreated
	if s := rep.Audit.States; len(s) > 0 {
		r.states = s
	}
}

func isExit1(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit) && exit.ExitCode() == 1 // violations: judged from the report
}

func tail(path string) string { return strings.Join(lastLines(path, 20), "\n") }

func msString(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.2fs", ms/1000)
	case ms >= 10:
		return fmt.Sprintf("%.0fms", ms)
	default:
		return fmt.Sprintf("%.1fms", ms)
	}
}

// countsOf writes counts as "503 ×3, refused ×1", or "none".
func countsOf(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
