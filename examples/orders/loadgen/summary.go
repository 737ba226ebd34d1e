package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// printSummary writes the load's figures: throughput, latency quantiles
// overall and by operation, errors by status or transport error kind.
func printSummary(w io.Writer, s *stats, lr loadResult, b *book) {
	s.mu.Lock()
	defer s.mu.Unlock()
	secs := lr.elapsed.Seconds()
	created := len(b.orders())
	fmt.Fprintf(w, "loadgen: %s, %d orders started, %d created (%.1f orders/s), %d requests (%.1f req/s)\n",
		lr.elapsed.Round(time.Millisecond), lr.started, created, float64(created)/secs, s.all.count(), float64(s.all.count())/secs)
	if lr.skipped > 0 {
		fmt.Fprintf(w, "  %d orders not started: too many in flight (-max-inflight)\n", lr.skipped)
	}
	fmt.Fprintf(w, "  %-7s %7s %9s %9s %9s %9s %9s\n", "latency", "n", "mean", "p50", "p95", "p99", "max")
	line := func(name string, h *histogram) {
		fmt.Fprintf(w, "  %-7s %7d %9s %9s %9s %9s %9s\n", name, h.count(),
			ms(h.mean()), ms(h.quantile(0.50)), ms(h.quantile(0.95)), ms(h.quantile(0.99)), ms(h.max))
	}
	line("all", &s.all)
	for _, op := range []string{opCreate, opGet, opList, opCancel} {
		if h := s.byOp[op]; h != nil {
			line(op, h)
		}
	}
	if len(s.errors) == 0 {
		fmt.Fprintf(w, "  errors: none\n")
	} else {
		fmt.Fprintf(w, "  errors: %d (%s)\n", s.failures, countsLine(s.errors))
	}
	if n := b.uncertainCount(); n > 0 {
		fmt.Fprintf(w, "  creates of unknown outcome (no answer or 503 after every retry): %d\n", n)
	}
	if s.conflict > 0 {
		fmt.Fprintf(w, "  cancels too late (409, paid first): %d\n", s.conflict)
	}
}

// printStates writes how many orders are in each state.
func printStates(w io.Writer, what string, states map[string]int) {
	if len(states) == 0 {
		fmt.Fprintf(w, "%s: no orders\n", what)
		return
	}
	fmt.Fprintf(w, "%s: %s\n", what, countsLine(states))
}

// countsLine writes counts as "a 3, b 1", the largest first.
func countsLine(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

// ms formats d in milliseconds with 3 significant figures at most.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	default:
		return fmt.Sprintf("%.2fms", v)
	}
}

// printAudit writes the audit's findings: the states of the orders, the
// checks skipped, and each violation on a line of its own, at most
// maxLinesPerCheck per check.
func printAudit(w io.Writer, rep *auditReport, settle time.Duration) {
	if rep.resolved > 0 {
		fmt.Fprintf(w, "audit: %d creates of unknown outcome answered 201 when retried with their Idempotency-Key\n", rep.resolved)
	}
	if rep.settled {
		fmt.Fprintf(w, "audit: settled after %s\n", rep.took.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "audit: not settled within -settle %s\n", settle)
	}
	printStates(w, "audit: orders by state", rep.states)
	for _, s := range rep.skipped {
		fmt.Fprintf(w, "audit: skipped %s\n", s)
	}
	shown := map[string]int{}
	var checks []string
	for _, v := range rep.violations {
		if shown[v.check] == 0 {
			checks = append(checks, v.check)
		}
		shown[v.check]++
		if shown[v.check] <= maxLinesPerCheck {
			fmt.Fprintln(w, v)
		}
	}
	for _, check := range checks {
		if n := shown[check]; n > maxLinesPerCheck {
			fmt.Fprintf(w, "VIOLATION %s: … and %d more\n", check, n-maxLinesPerCheck)
		}
	}
	if len(rep.violations) == 0 {
		fmt.Fprintf(w, "audit: ok, no violation\n")
	}
}
