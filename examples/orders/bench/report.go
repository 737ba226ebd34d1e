package main

import (
	"fmt"
	"io"
	"time"
)

// printTable writes the results as Markdown.
func printTable(w io.Writer, cfg config, results []result) {
	form := "the service's one statement"
	if cfg.pgStatements {
		form = "seven statements"
	}
	fmt.Fprintf(w, "\n%d clients, %s per measurement, each on a fresh database holding %d orders of the past (analyzed); ceiling = the order's transaction straight at the database "+
		"(PostgreSQL: pgbench -M prepared, %s; SQLite: a Go loop on database/sql, %d connection(s), a transaction per commit); "+
		"service = loadgen -c %d -mix '' through HTTP%s.\n\n", cfg.c, cfg.d, cfg.seed, form, cfg.sqliteConns, cfg.c, leanNote(cfg))
	head, rule := "| storage | ceiling tx/s | ceiling p50 / p99 | service orders/s | ratio | create p50 / p99 | errors |", "|---|---|---|---|---|---|---|"
	if cfg.lean {
		head, rule = head+" lean client orders/s | ratio | create p50 / p99 | errors |", rule+"---|---|---|---|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	for _, res := range results {
		for _, r := range res.rounds {
			fmt.Fprintf(w, "| %s | %.0f | %s / %s | %.0f | %.0f%% | %s / %s | %d |", res.kind,
				r.ceiling.perSec, ms(r.ceiling.p50), ms(r.ceiling.p99),
				r.service.perSec, 100*r.ratio(), ms(r.service.p50), ms(r.service.p99), r.service.errors)
			if cfg.lean {
				fmt.Fprintf(w, " %.0f | %.0f%% | %s / %s | %d |", r.lean.perSec, 100*r.ratioOf(r.lean), ms(r.lean.p50), ms(r.lean.p99), r.lean.errors)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| storage | rate (orders/s) | created | create p99 | order → shipped p50 / p99 / max | backlog max / at end of load | settled after |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, res := range results {
		for _, s := range []shipping{res.ship, res.shipHalf} {
			if s.rate == 0 {
				continue
			}
			settled := s.settle.Round(10 * time.Millisecond).String()
			if !s.settled {
				settled = "not within 1 min"
			}
			fmt.Fprintf(w, "| %s | %.0f | %d | %s | %s / %s / %s | %d / %d | %s |\n", res.kind, s.rate, s.load.n, ms(s.load.p99),
				ms(s.p50), ms(s.p99), ms(s.max), s.backlogMax, s.backlogEnd, settled)
		}
	}
}

// ms formats d in milliseconds with 3 significant figures at most.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.2f ms", v)
	}
}

// leanNote describes the lean client's columns, when measured.
func leanNote(cfg config) string {
	if !cfg.lean {
		return ""
	}
	return fmt.Sprintf("; lean client = the same orders from %d clients with one goroutine each, HTTP/1.1 written and read by hand (-lean)", cfg.c)
}
