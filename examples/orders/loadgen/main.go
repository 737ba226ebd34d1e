// Command loadgen sends realistic traffic to the order system and, with
// -audit, checks that the workflow kept its promises afterwards.
//
//	cd examples && go run ./orders/loadgen -rate 50 -d 30s -audit
//
// Each order is one client's visit: it creates the order (POST /orders with
// an Idempotency-Key of its own, retried with the same key after no answer
// or a 503), then perhaps reads it back, lists the recent orders and
// cancels it (-mix). Orders start at a fixed rate (-rate, open loop: a
// slow server does not slow the arrivals) or as fast as -c clients can
// place them one after the other (closed loop), for -d.
//
// A progress line on stderr, once a second (on a terminal, or with
// -progress), shows the elapsed time, requests per second, errors and the
// p99 latency so far. The summary on stdout gives orders and requests per
// second, latency quantiles by operation, errors by status or transport
// error kind (refused, reset, closed, timeout), and the orders by state.
//
// With -audit, loadgen then waits at most -settle for every order to reach
// a final state (shipped, cancelled or expired) and checks:
//
//   - lost: every order answered 201 exists;
//   - not-final: and is final;
//   - expired-and-paid, cancelled-and-paid: no order seen paid ends
//     expired or cancelled; with -database-url, no expired order has an
//     orders.paid event in the outbox;
//   - outbox-backlog (-database-url): every outbox row is sent;
//   - stuck (-database-url): no order created before the load ended, by
//     anyone, is still created or paid;
//   - dead-letters (-ops-url): the consumers dead-lettered at most
//     -max-dead-letters messages since the order system started.
//
// It prints one line per violation, "VIOLATION <check>: <detail>", and
// exits 1 when there is any; 2 for bad flags or when the audit cannot be
// carried out.
//
// With -json FILE it also writes the summary and the audit as JSON (see
// jsonReport), for programs such as the chaos suite in ../chaos.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stderr))
	var failed *auditFailedError
	switch {
	case err == nil:
	case errors.As(err, &failed):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// auditFailedError is returned by run when the audit found violations.
type auditFailedError struct {
	violations []violation
}

func (e *auditFailedError) Error() string {
	return fmt.Sprintf("loadgen: audit failed: %d violations (%s)", len(e.violations), summarize(e.violations))
}

// run parses args, sends the load, prints the summary to stdout and, with
// -audit, audits the system. It shows progress on stderr when -progress
// is set or terminal is true. It returns an *auditFailedError when the
// audit finds violations. When ctx is done, the load stops at once and
// the audit does not run.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, terminal bool) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if cfg.db != nil {
		defer cfg.db.Close()
	}
	st, b := newStats(), newBook()
	c := newClient(cfg.url, cfg.timeout, max(cfg.load.conc, 64), st.observe)
	stopProgress := func() {}
	if cfg.progress || terminal {
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); showProgress(pctx, stderr, terminal, st, b) }()
		stopProgress = func() { cancel(); <-done }
	}
	lr := generate(ctx, c, b, cfg.load)
	stopProgress()
	loadEnd := time.Now()
	printSummary(stdout, st, lr, b)
	report := newJSONReport(st, lr, b)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("loadgen: interrupted: %w", err)
	}
	c.observe = nil // the requests that follow are not the load's
	if !cfg.audit {
		printStates(stdout, "orders by state at the end", currentStates(ctx, c, b))
		return writeReport(cfg.jsonPath, report)
	}
	rep, err := audit(ctx, c, b, auditConfig{
		settle: cfg.settle, db: cfg.db, opsURL: cfg.opsURL, maxDeadLetters: cfg.maxDeadLetters,
		retries: cfg.load.retries, loadEnd: loadEnd,
	})
	if err != nil {
		return err
	}
	printAudit(stdout, rep, cfg.settle)
	report.addAudit(rep)
	if err := writeReport(cfg.jsonPath, report); err != nil {
		return err
	}
	if len(rep.violations) > 0 {
		return &auditFailedError{violations: rep.violations}
	}
	return nil
}

// writeReport writes r to path, unless path is "".
func writeReport(path string, r *jsonReport) error {
	if path == "" {
		return nil
	}
	return r.write(path)
}

// currentStates returns how many of the orders of b are in each state
// now ("missing" for a 404, "unknown" without an answer).
func currentStates(ctx context.Context, c *client, b *book) map[string]int {
	states := map[string]int{}
	final, missing := map[string]string{}, map[string]bool{}
	lookUp(ctx, c, b, b.orders(), final, missing)
	for _, id := range b.orders() {
		switch {
		case missing[id]:
			states["missing"]++
		case final[id] == "":
			states["unknown"]++
		default:
			states[final[id]]++
		}
	}
	return states
}
