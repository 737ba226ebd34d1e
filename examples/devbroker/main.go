// Command devbroker is a local Kafka-compatible broker (kfake, from
// franz-go) in a process of its own, so that several replicas of a service
// share one broker in development and in the chaos suite, where each
// order system would otherwise start a broker of its own.
//
//	cd examples && go run ./devbroker
//	FLEX_KAFKA_BROKERS=127.0.0.1:9092
//
// It prints the line above on stdout once it listens (with the actual port
// when the address asks for port 0), logs on stderr, and runs until SIGINT
// or SIGTERM, when it closes the broker (writing its state to the data
// directory, if any) and exits 0.
//
// Flags, each defaulting to its environment variable, then to a default:
//
//	-addr        DEVBROKER_ADDR        127.0.0.1:9092  listen address (host:port; port 0: any free port)
//	-data        DEVBROKER_DATA_DIR    (memory)        keep topics, offsets and groups in this directory across restarts
//	-partitions  DEVBROKER_PARTITIONS  3               partitions of topics created without a count, or automatically
//	-v           DEVBROKER_VERBOSE     false           log the broker's warnings and errors
//
// Topics are created automatically on first use. The broker advertises the
// address it listens on, so clients must be able to reach that address:
// 0.0.0.0 works from the same host only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/go-flexible/flexible/flex"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case err != nil:
		slog.Error("devbroker: stopped with an error", "error", err)
		os.Exit(1)
	}
}

// run parses args, starts the broker, prints its address on stdout and
// serves until SIGINT or SIGTERM (handled by flex, with opts) or until ctx
// is done. It returns nil after a clean shutdown.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, opts ...flex.Option) error {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	b, err := startBroker(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "FLEX_KAFKA_BROKERS=%s\n", b.addr)
	slog.Info("devbroker: listening", "addr", b.addr, "data", cfg.dataDirOrMemory(), "partitions", cfg.partitions)
	return flex.New(opts...).Start(ctx, b)
}
