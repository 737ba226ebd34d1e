package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// jsonReport is what -json writes: the summary and the audit in a form
// that programs read, such as the chaos suite (../chaos) and the
// benchmark tables. Durations are in milliseconds.
type jsonReport struct {
	ElapsedSeconds float64                `json:"elapsed_seconds"`
	OrdersStarted  int                    `json:"orders_started"`
	OrdersCreated  int                    `json:"orders_created"`
	OrdersPerSec   float64                `json:"orders_per_second"`
	Requests       uint64                 `json:"requests"`
	RequestsPerSec float64                `json:"requests_per_second"`
	Skipped        int                    `json:"orders_skipped"`
	Latency        map[string]jsonLatency `json:"latency_ms"` // "all" and by operation
	Errors         map[string]int         `json:"errors"`     // by status or transport error kind
	Unknown        int                    `json:"creates_unknown_outcome"`
	Audit          *jsonAudit             `json:"audit,omitempty"`
}

type jsonLatency struct {
	N    uint64  `json:"n"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

type jsonAudit struct {
	Settled       bool            `json:"settled"`
	SettleSeconds float64         `json:"settle_seconds"`
	Resolved      int             `json:"resolved"` // creates of unknown outcome that turned out created
	States        map[string]int  `json:"states"`
	Skipped       []string        `json:"skipped"`
	Violations    []jsonViolation `json:"violations"`
}

type jsonViolation struct {
	Check  string `json:"check"`
	Detail string `json:"detail"`
}

// newJSONReport takes the load's figures; the audit is added after.
func newJSONReport(s *stats, lr loadResult, b *book) *jsonReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	secs := lr.elapsed.Seconds()
	created := b.count()
	r := &jsonReport{
		ElapsedSeconds: secs,
		OrdersStarted:  lr.started,
		OrdersCreated:  created,
		OrdersPerSec:   float64(created) / secs,
		Requests:       s.all.count(),
		RequestsPerSec: float64(s.all.count()) / secs,
		Skipped:        lr.skipped,
		Latency:        map[string]jsonLatency{"all": latencyOf(&s.all)},
		Errors:         map[string]int{},
		Unknown:        b.uncertainCount(),
	}
	for op, h := range s.byOp {
		r.Latency[op] = latencyOf(h)
	}
	for k, v := range s.errors {
		r.Errors[k] = v
	}
	return r
}

func latencyOf(h *histogram) jsonLatency {
	return jsonLatency{
		N: h.count(), Mean: msFloat(h.mean()), P50: msFloat(h.quantile(0.50)),
		P95: msFloat(h.quantile(0.95)), P99: msFloat(h.quantile(0.99)), Max: msFloat(h.max),
	}
}

func msFloat(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// addAudit records the audit's findings.
func (r *jsonReport) addAudit(rep *auditReport) {
	a := &jsonAudit{
		Settled: rep.settled, SettleSeconds: rep.took.Seconds(), Resolved: rep.resolved,
		States: rep.states, Skipped: rep.skipped, Violations: []jsonViolation{},
	}
	for _, v := range rep.violations {
		a.Violations = append(a.Violations, jsonViolation{Check: v.check, Detail: v.detail})
	}
	r.Audit = a
}

// write writes r to path, replacing it whole: a reader never sees half a
// report.
func (r *jsonReport) write(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("loadgen: -json: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("loadgen: -json %q: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("loadgen: -json %q: %w", path, err)
	}
	return nil
}
