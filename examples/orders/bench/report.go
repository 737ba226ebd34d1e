package main

import (
	"fmt"
	"io"
	"time"
)

// printTable writes the results as Markdown.
func printTable(w io.Writer, cfg config, results []result) {
	fmt.Fprintf(w, "\n%d clients, %s per measurement, each on a fresh database holding %d orders of the past (analyzed); "+
		"ceiling = the order's transaction straight at the database in its statements, BEGIN … COMMIT "+
		"(PostgreSQL: pgbench -M prepared, seven statements; SQLite: a Go loop on database/sql, %d connection(s), a transaction per commit); "+
		"tuned ceiling = PostgreSQL: pgbench -M prepared running the one statement the service sends; "+
		"service = loadgen -c %d -mix '' through HTTP%s.\n\n", cfg.c, cfg.d, cfg.seed, cfg.sqliteConns, cfg.c, leanNote(cfg))
	head := "| storage | ceiling tx/s | ceiling p50 / p99 | tuned ceiling tx/s | tuned p50 / p99 | service orders/s | ratio | ratio to the tuned | create p50 / p99 | errors |"
	rule := "|---|---|---|---|---|---|---|---|---|---|"
	if cfg.lean {
		head, rule = head+" lean client orders/s | ratio | ratio to the tuned | create p50 / p99 | errors |", rule+"---|---|---|---|---|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	for _, res := range results {
		for _, r := range res.rounds {
			fmt.Fprintf(w, "| %s | %.0f | %s / %s | %s | %.0f | %.0f%% | %s | %s / %s | %d |", res.kind,
				r.ceiling.perSec, ms(r.ceiling.p50), ms(r.ceiling.p99), tunedCells(r.tuned),
				r.service.perSec, 100*r.ratio(), percent(ratio(r.service, r.tuned)), ms(r.service.p50), ms(r.service.p99), r.service.errors)
			if cfg.lean {
				fmt.Fprintf(w, " %.0f | %.0f%% | %s | %s / %s | %d |", r.lean.perSec, 100*ratio(r.lean, r.ceiling),
					percent(ratio(r.lean, r.tuned)), ms(r.lean.p50), ms(r.lean.p99), r.lean.errors)
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

// tunedCells is the tuned ceiling's two cells, throughput and latency,
// or dashes where there is none (SQLite).
func tunedCells(tuned figures) string {
	if tuned.perSec == 0 {
		return "– | –"
	}
	return fmt.Sprintf("%.0f | %s / %s", tuned.perSec, ms(tuned.p50), ms(tuned.p99))
}

// percent formats a ratio, or a dash for 0 (not measured).
func percent(r float64) string {
	if r == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*r)
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
