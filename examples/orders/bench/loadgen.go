package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// loadReport is what the harness reads of loadgen's -json report.
type loadReport struct {
	OrdersCreated int     `json:"orders_created"`
	OrdersPerSec  float64 `json:"orders_per_second"`
	Latency       map[string]struct {
		N   int     `json:"n"`
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"latency_ms"`
	Errors  map[string]int `json:"errors"`
	Unknown int            `json:"creates_unknown_outcome"`
}

// figures returns the create figures of the report.
func (r loadReport) figures() figures {
	create := r.Latency["create"]
	f := figures{perSec: r.OrdersPerSec, n: r.OrdersCreated,
		p50: time.Duration(create.P50 * float64(time.Millisecond)),
		p99: time.Duration(create.P99 * float64(time.Millisecond))}
	for _, n := range r.Errors {
		f.errors += n
	}
	return f
}

// loadgen runs the load generator against s, creating orders only: with
// -c clients in a closed loop when conc > 0, else at rate orders per
// second.
func (e *env) loadgen(ctx context.Context, s *service, conc int, rate float64) (loadReport, error) {
	e.seq++
	out := filepath.Join(e.dir, fmt.Sprintf("load-%d.json", e.seq))
	args := []string{"-url", s.url, "-d", e.cfg.d.String(), "-mix", "", "-json", out}
	if conc > 0 {
		args = append(args, "-c", strconv.Itoa(conc))
	} else {
		args = append(args, "-rate", strconv.FormatFloat(rate, 'f', 1, 64))
	}
	cmd := exec.CommandContext(ctx, e.loadgn, args...)
	if text, err := cmd.CombinedOutput(); err != nil {
		return loadReport{}, fmt.Errorf("loadgen %v: %v\n%s", args, err, text)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return loadReport{}, err
	}
	var r loadReport
	if err := json.Unmarshal(raw, &r); err != nil {
		return loadReport{}, fmt.Errorf("loadgen's report %s: %w", out, err)
	}
	return r, nil
}
