package flexkafka_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

// W3C trace context travels from the producer's context to the handler's.
// To bridge OpenTelemetry instead, implement Propagator with
// otel.GetTextMapPropagator() and a carrier over the message headers.
func ExampleW3C() {
	var w3c flexkafka.W3C
	ctx := flexkafka.ContextWithTrace(context.Background(), flexkafka.TraceContext{
		Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	})
	headers := w3c.Inject(ctx, nil) // what Producer.Produce does with WithPropagator(W3C{})
	fmt.Printf("%s: %s\n", headers[0].Key, headers[0].Value)

	handlerCtx := w3c.Extract(context.Background(), headers) // what the Consumer does
	tc, _ := flexkafka.TraceFromContext(handlerCtx)
	fmt.Println(tc.Traceparent)
	// Output:
	// traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
	// 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
}

// Invalid configuration is reported before anything starts, naming the
// value and where it came from.
func ExampleNewConsumer_invalid() {
	_, err := flexkafka.NewConsumer(func(context.Context, kafka.Message) error { return nil },
		flexkafka.WithBrokers("kafka-0"), flexkafka.WithGroupID("g"), flexkafka.WithTopics("t"))
	fmt.Println(err)
	// Output:
	// flexkafka: invalid WithBrokers "kafka-0": missing port
}

// Middleware compose the consumer's policies: here a timing middleware
// outside dead-lettering, outside a retry that gives up after a minute and
// treats a validation error as permanent.
func ExampleWithMiddleware() {
	errInvalid := errors.New("invalid order")
	timing := func(next flexkafka.BatchHandler) flexkafka.BatchHandler {
		return func(ctx context.Context, msgs []kafka.Message) error {
			start := time.Now()
			err := next(ctx, msgs)
			slog.Debug("handled", "messages", len(msgs), "took", time.Since(start), "attempts", flexkafka.Attempt(ctx), "error", err)
			return err
		}
	}
	consumer, err := flexkafka.NewConsumer(func(ctx context.Context, msg kafka.Message) error {
		return nil // save the order
	},
		flexkafka.WithBrokers("kafka-0:9092"), flexkafka.WithGroupID("orders"), flexkafka.WithTopics("orders"),
		flexkafka.WithMiddleware(
			timing,
			flexkafka.DeadLetter("orders-dlq", nil), // nil: the consumer's own writer
			flexkafka.Retry(flexkafka.RetryPolicy{
				MaxElapsed: time.Minute,
				Permanent:  func(err error) bool { return errors.Is(err, errInvalid) },
			}),
		))
	if err != nil {
		log.Fatal(err)
	}
	_ = consumer // run it with flex
}

// Once the bug that dead-lettered orders is fixed, move them back to the
// topics they came from. The group records the progress, so an interrupted
// re-drive resumes where it stopped.
func ExampleRedrive() {
	res, err := flexkafka.Redrive(context.Background(), flexkafka.RedriveOptions{
		Config:            flexkafka.Config{Brokers: []string{"kafka-0:9092"}, GroupID: "orders-redrive-bug-42"},
		Topic:             "orders-dlq",
		OriginTopics:      []string{"orders"},
		ErrorContains:     "bug 42",
		DeadLetteredAfter: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("re-drove %d of %d dead letters\n", res.Redriven, res.Read)
}
