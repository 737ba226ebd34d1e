package main

import (
	"strings"
	"testing"
	"time"
)

// A PostgreSQL round reports the service against both ceilings; a SQLite
// round, which has no tuned ceiling, dashes instead of a ratio of zero.
func TestPrintTableRatiosToBothCeilings(t *testing.T) {
	f := func(perSec float64) figures {
		return figures{perSec: perSec, p50: 4 * time.Millisecond, p99: 20 * time.Millisecond}
	}
	results := []result{
		{kind: "sqlite", rounds: []round{{ceiling: f(1000), service: f(900)}}},
		{kind: "postgres", rounds: []round{{ceiling: f(2000), tuned: f(4000), service: f(1300)}}},
	}
	var out strings.Builder
	printTable(&out, config{c: 16, d: 10 * time.Second, sqliteConns: 1}, results)
	got := out.String()
	for _, want := range []string{
		"| sqlite | 1000 | 4.00 ms / 20.0 ms | – | – | 900 | 90% | – | 4.00 ms / 20.0 ms | 0 |",
		"| postgres | 2000 | 4.00 ms / 20.0 ms | 4000 | 4.00 ms / 20.0 ms | 1300 | 65% | 32% | 4.00 ms / 20.0 ms | 0 |",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("the table lacks the row\n%s\ngot:\n%s", want, got)
		}
	}
	head := "| storage | ceiling tx/s | ceiling p50 / p99 | tuned ceiling tx/s | tuned p50 / p99 | service orders/s | ratio | ratio to the tuned |"
	if !strings.Contains(got, head) {
		t.Errorf("the table's head is not %q:\n%s", head, got)
	}
}

// The two ceilings are the same transaction in two forms: the tuned one
// the service's single statement, the other its statements between BEGIN
// and END, as issue 11 measured the limit.
func TestPgbenchScriptForms(t *testing.T) {
	tuned, statements := pgbenchScript(true), pgbenchScript(false)
	if strings.Contains(tuned, "BEGIN;") || !strings.Contains(tuned, "WITH key AS (") {
		t.Errorf("the tuned script is not the service's one statement:\n%s", tuned)
	}
	for _, want := range []string{"BEGIN;\n", "INSERT INTO idempotency_keys", "INSERT INTO orders", "INSERT INTO order_items",
		"INSERT INTO outbox", "END;\n"} {
		if !strings.Contains(statements, want) {
			t.Errorf("the statements script lacks %q:\n%s", want, statements)
		}
	}
	if n := strings.Count(statements, ";\n"); n != 7 {
		t.Errorf("the statements script has %d statements, want 7:\n%s", n, statements)
	}
}
