//go:build linux

// Command chaos breaks the order system the ways production does and
// checks that it heals: every order that got a 201 exists and reaches a
// final state, nothing is lost, and the promises of each scenario hold.
//
//	cd examples && go run ./orders/chaos            # every scenario, about 8 minutes
//	cd examples && go run ./orders/chaos -short     # small load, about 3 minutes (CI)
//	cd examples && go run ./orders/chaos -run 'kill9|storm'
//
// It builds the order system, the load generator (../loadgen) and the
// development broker (../../devbroker), and runs everything on loopback:
// its own PostgreSQL too (initdb and pg_ctl in a temporary directory on a
// free port, so that it can stop and start it; as user postgres when run
// as root). Without PostgreSQL binaries (initdb, pg_ctl on PATH or under
// /usr/lib/postgresql/*/bin) the PostgreSQL scenarios are skipped with a
// message saying so.
//
// The scenarios, each ending with the load generator's audit (lost,
// not-final, expired-and-paid, cancelled-and-paid, outbox-backlog,
// stuck), with the replicas' logs searched for dead letters and panics:
//
//  1. kill9/sqlite, kill9/postgres: kill -9 five times under load,
//     restarting at once;
//  2. db-outage: PostgreSQL stopped (immediate mode: a crash) for 10 s
//     under load: 503 with Retry-After, never another 5xx, readiness
//     fails during the outage, no replica exits and nothing is
//     dead-lettered;
//  3. broker-loss: kill -9 in the middle of a burst of orders, with the
//     orders table locked until orders are in flight, the
//     embedded broker's data deleted, restart, until the loss has
//     stranded orders (counted in the database): the reconciliation job
//     re-drives every one;
//  4. rolling: two replicas sharing PostgreSQL and the devbroker behind a
//     round-robin TCP balancer, each SIGTERMed and restarted in turn
//     under load: both exit 0;
//  5. cold-start: three replicas started at once on an empty database,
//     several times: every one becomes ready;
//  6. storm/sqlite, storm/postgres: a bad-input storm (malformed, huge and
//     chunked bodies, bad UTF-8, NUL, control characters, bad path ids
//     and headers, slow headers, idle connections): no 5xx (but the 505
//     RFC 9110 prescribes for a request for HTTP/9.9); goroutines
//     and RSS back to their baseline afterwards;
//  7. trickle/sqlite, trickle/postgres: SIGTERM under load while a client
//     trickles its body: exit 0, and processing resumes within 2 s of the
//     restart: an order ships, although every client that waited during
//     the shutdown retries at once.
//
// It prints a line per scenario and a Markdown table of the figures
// (-report writes it to a file too), and exits 1 when a promise is
// broken, 2 when it could not run. Logs of every process stay in the work
// directory, printed on failure; -keep keeps it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	var broken *brokenError
	switch {
	case err == nil:
	case errors.As(err, &broken):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// brokenError is returned by run when a scenario broke a promise.
type brokenError struct{ failed []string }

func (e *brokenError) Error() string {
	return fmt.Sprintf("chaos: %d scenarios broke a promise: %v", len(e.failed), e.failed)
}

// options are chaos's flags.
type options struct {
	short   bool
	only    *regexp.Regexp
	keep    bool
	verbose bool
	report  string
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.BoolVar(&o.short, "short", false, "small load, one run of each scenario: a few minutes, for CI")
	runFlag := fs.String("run", "", "run only the scenarios whose name matches this `regexp`")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (binaries, databases, logs)")
	fs.BoolVar(&o.verbose, "v", false, "print the load generator's output and every step")
	fs.StringVar(&o.report, "report", "", "also write the Markdown table of figures to this `file`")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("chaos: unexpected arguments %q", fs.Args())
	}
	re, err := regexp.Compile(*runFlag)
	if err != nil {
		return o, fmt.Errorf("chaos: invalid -run %q: %w", *runFlag, err)
	}
	o.only = re
	return o, nil
}

// run builds the binaries, starts PostgreSQL where it can, runs the
// scenarios and reports.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	s, err := newSuite(ctx, o, stdout)
	if err != nil {
		return err
	}
	defer s.close()
	started := time.Now()
	var results []*result
	for _, sc := range scenarios() {
		if !o.only.MatchString(sc.name) {
			continue
		}
		results = append(results, s.runScenario(ctx, sc))
		if ctx.Err() != nil {
			return fmt.Errorf("chaos: interrupted: %w", ctx.Err())
		}
	}
	table := resultTable(results, o.short, time.Since(started))
	fmt.Fprint(stdout, "\n"+table)
	if o.report != "" {
		if err := os.WriteFile(o.report, []byte(table), 0o644); err != nil {
			return fmt.Errorf("chaos: -report: %w", err)
		}
	}
	var failed []string
	for _, r := range results {
		if len(r.failures) > 0 {
			failed = append(failed, r.name)
		}
	}
	if len(failed) > 0 {
		s.keep = true // the logs explain the failure
		fmt.Fprintf(stdout, "chaos: logs kept in %s\n", s.work)
		return &brokenError{failed: failed}
	}
	return nil
}
