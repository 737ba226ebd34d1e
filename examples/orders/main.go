// Command orders is an e-commerce order system built from the flexible
// modules only: a public HTTP API takes orders, Kafka carries their events
// to a payments and a shipping consumer, a transactional outbox makes sure
// no event is lost, a cron job expires unpaid orders, and an operations
// server exposes metrics, profiles and health.
//
//	cd examples && go run ./orders
//
// With nothing configured it keeps its orders in an SQLite file and starts
// an in-process Kafka broker; DATABASE_URL selects PostgreSQL and
// FLEX_KAFKA_BROKERS a real Kafka cluster. See README.md for a walkthrough
// with curl and every environment variable.
//
//	go run ./orders redrive -h
//
// moves dead-lettered messages back to their topics (see redrive.go).
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "redrive" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := redriveCommand(ctx, os.Args[2:], os.Stdout, slog.Default()); err != nil {
			if !errors.Is(err, flag.ErrHelp) {
				slog.Error("orders: re-drive failed", "error", err)
			}
			os.Exit(2)
		}
		return
	}
	if err := run(context.Background()); err != nil {
		slog.Error("orders: stopped with an error", "error", err)
		os.Exit(1)
	}
}

// run builds the system from the environment and runs it until SIGINT or
// SIGTERM (flex handles both) or until ctx is done.
func run(ctx context.Context) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	a, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.close() // the database and Kafka outlive every worker
	return a.start(ctx)
}

// start runs the workers until shutdown. They start in the order given;
// at shutdown flex halts them one at a time in the reverse order, waiting
// for each one's Run to return before halting the next. So each worker is
// halted only after every worker that hands it work has stopped:
//
//  1. api halts first: it stops accepting connections and lets the
//     requests in flight finish. An order that got its 201 is committed,
//     with its event in the outbox.
//  2. cron: no new expiry run starts; a running one completes.
//  3. consumers (payments and shipping, a group halted concurrently):
//     they finish the messages in hand, whose changes write events to the
//     outbox, commit their offsets and leave their groups.
//  4. relay: nothing writes to the outbox any more; it publishes what is
//     left through the producer, which still runs.
//  5. producer: flushes and closes; nobody produces any more.
//  6. ops halts last: /metrics and /livez answer until the end, while
//     /readyz has been failing since shutdown began.
//
// The six share FLEX_SHUTDOWN_TIMEOUT (20s): each keeps back
// FLEX_SHUTDOWN_RESERVE (by default 20s / 12 ≈ 1.7s) for every worker
// halted after it, so the api may drain for up to about 11.7s, and a slow
// client still sending its order when that ends is cut off (it was never
// received, so nothing is lost) rather than leave the consumers no time to
// commit and leave their groups.
//
// Whatever the deadline cuts short is delayed, not lost: outbox rows not
// yet published are published after the next start, and messages not yet
// committed are delivered again, and applied once.
func (a *app) start(ctx context.Context) error {
	return a.service.Start(ctx,
		a.ops,
		a.producer,
		a.relay,
		a.consumers,
		a.cron,
		a.api,
	)
}
