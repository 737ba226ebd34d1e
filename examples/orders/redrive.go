package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
)

// redriveUsage is printed by `orders redrive -h`.
const redriveUsage = `usage: orders redrive [flags]

Moves the messages of the dead-letter topic (orders.dlq, with
ORDERS_KAFKA_PREFIX) back to the topics they came from, so that payments
and shipping handle them again: run it once the bug or outage that made
them fail is fixed. The handlers are idempotent, so a message re-driven
twice is applied once. Needs FLEX_KAFKA_BROKERS: the in-process broker of
a running order system cannot be reached from another process.

Progress is committed in the consumer group given by -group: running the
command again with the same group re-drives only what has been
dead-lettered since. Dead letters that do not match the filters are
passed over for good in that group; use another -group to re-drive them.

flags:
`

// redriveCommand runs `orders redrive` with args (without the command
// name), writing its report to out.
func redriveCommand(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("orders redrive", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, redriveUsage)
		fs.PrintDefaults()
	}
	var (
		group     = fs.String("group", "", "consumer group recording the progress (default: <prefix>orders-redrive)")
		origin    = fs.String("origin", "", "re-drive only dead letters from these topics, comma separated (e.g. orders.created)")
		olderThan = fs.Duration("older-than", 0, "re-drive only dead letters at least this old (e.g. 10m)")
		newerThan = fs.Duration("newer-than", 0, "re-drive only dead letters at most this old (e.g. 24h)")
		errText   = fs.String("error", "", "re-drive only dead letters whose error contains this text")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("orders redrive: unexpected argument %q", fs.Arg(0))
	}
	if *olderThan < 0 || *newerThan < 0 {
		return fmt.Errorf("orders redrive: invalid -older-than %v or -newer-than %v: must not be negative", *olderThan, *newerThan)
	}
	if os.Getenv(flexkafka.EnvBrokers) == "" {
		return errors.New("orders redrive: FLEX_KAFKA_BROKERS is not set: give the brokers of the cluster the order system uses")
	}
	t := topics{prefix: os.Getenv(envKafkaPrefix)}
	opts := flexkafka.RedriveOptions{
		Config:        flexkafka.Config{GroupID: *group},
		Topic:         t.deadLetter(),
		ErrorContains: *errText,
		Logger:        log,
	}
	if opts.Config.GroupID == "" {
		opts.Config.GroupID = t.group("redrive")
	}
	for o := range strings.SplitSeq(*origin, ",") {
		if o = strings.TrimSpace(o); o != "" {
			opts.OriginTopics = append(opts.OriginTopics, o)
		}
	}
	now := time.Now()
	if *olderThan > 0 {
		opts.DeadLetteredBefore = now.Add(-*olderThan)
	}
	if *newerThan > 0 {
		opts.DeadLetteredAfter = now.Add(-*newerThan)
	}
	res, err := flexkafka.Redrive(ctx, opts)
	fmt.Fprintf(out, "read %d dead letters from %s: %d re-driven, %d skipped\n", res.Read, opts.Topic, res.Redriven, res.Skipped)
	return err
}
