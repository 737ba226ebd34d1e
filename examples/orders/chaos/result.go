//go:build linux

package main

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// result is what a scenario showed: the promises it broke, if any, and
// its figures.
type result struct {
	mu       sync.Mutex // failf and note are called from the scenarios' goroutines
	name     string
	skipped  string   // why it did not run
	failures []string // promises broken
	figures  []string
	orders   int            // answered 201, over every load of the scenario
	states   map[string]int // of the last audit
	took     time.Duration
}

func (r *result) failf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *result) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.figures = append(r.figures, fmt.Sprintf(format, args...))
}

func (r *result) outcome() string {
	switch {
	case r.skipped != "":
		return "skipped"
	case len(r.failures) > 0:
		return "**FAILED**"
	default:
		return "passed"
	}
}

// resultTable writes the results as Markdown, for RELIABILITY.md.
func resultTable(results []*result, short bool, took time.Duration) string {
	var b strings.Builder
	mode := "full"
	if short {
		mode = "-short"
	}
	fmt.Fprintf(&b, "chaos (%s), %d scenarios in %s:\n\n", mode, len(results), took.Round(time.Second))
	b.WriteString("| scenario | outcome | orders answered 201 | final states (last audit) | figures |\n|---|---|---|---|---|\n")
	for _, r := range results {
		figures := strings.Join(r.figures, "; ")
		if r.skipped != "" {
			figures = r.skipped
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s |\n", r.name, r.outcome(), r.orders, statesOf(r.states), figures)
	}
	return b.String()
}

func statesOf(m map[string]int) string {
	if len(m) == 0 {
		return "–"
	}
	return strings.ReplaceAll(countsOf(m), " ×", " ")
}
