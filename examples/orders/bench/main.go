// Command bench measures the order system against the limit of its
// database, side by side in one run, and prints a Markdown table:
//
//	cd examples && go run ./orders/bench                 # SQLite, and PostgreSQL when DATABASE_URL is set
//	cd examples && go run ./orders/bench -d 15s -db postgres
//
// (`make bench-orders` at the repository root.) For each database it
// builds the order system and the load generator (../loadgen), and on
// fresh databases measures:
//
//   - the ceiling: the order's transaction (Idempotency-Key, order, item,
//     outbox row, as POST /orders writes them) driven straight at the
//     database by -c clients for -d, without HTTP, in its statements
//     (BEGIN … COMMIT), the form issue 11 measured its limit with:
//     pgbench for PostgreSQL, a Go loop on database/sql for SQLite;
//   - on PostgreSQL, the tuned ceiling: the same transaction as the one
//     statement the order system sends, with pgbench, which the
//     database runs faster still;
//   - the service: loadgen -c 16 creating orders for -d through HTTP
//     (closed loop: each client sends its next order when the last is
//     answered), with its orders per second, create latency and errors,
//     and its ratios to both ceilings;
//   - with -lean, the service again under a lean HTTP/1.1 client
//     (client.go): the same orders, the client's own CPU close to
//     pgbench's, since it shares the cores with the order system;
//   - order to shipped: loadgen at -rate orders per second (open loop),
//     then the time from each order's creation to its shipment, from the
//     database (created_at and the updated_at of the shipping
//     transaction), and the backlog (orders created or paid) sampled
//     during the load; then the same at half the service's throughput.
//
// Ceiling and service run one after the other in one run (-rounds
// alternates them), so that a machine shared with other work loads both
// alike. It exits 1 when a run fails, 2 for bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, err)
		var bad *flagError
		if errors.As(err, &bad) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// run parses args, measures each database and prints the table.
func run(ctx context.Context, args []string) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	env, err := newEnv(ctx, cfg)
	if err != nil {
		return err
	}
	defer env.close()
	var results []result
	for _, kind := range cfg.dbs {
		res, err := env.measure(ctx, kind)
		if err != nil {
			return fmt.Errorf("bench: %s: %w", kind, err)
		}
		results = append(results, res)
	}
	printTable(os.Stdout, cfg, results)
	return nil
}
