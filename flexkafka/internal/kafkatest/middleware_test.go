package kafkatest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

// TestMiddlewareComposed: a chain built by hand (an outer middleware, a
// DeadLetter with its own writer, a Retry with a classifier) replaces the
// default one: failures go through it in that order.
func TestMiddlewareComposed(t *testing.T) {
	c, topics := newCluster(t, 1, "chain", "chain-dlq")
	produce(t, c, topics[0], 0, 4)
	errInvalid := errors.New("invalid")
	var mu sync.Mutex
	outer := map[int64]int{}    // offset -> calls seen by the outer middleware
	attempts := map[int64]int{} // offset -> handler calls
	record := func(next flexkafka.BatchHandler) flexkafka.BatchHandler {
		return func(ctx context.Context, msgs []kafka.Message) error {
			mu.Lock()
			outer[msgs[0].Offset]++
			mu.Unlock()
			return next(ctx, msgs)
		}
	}
	dlq := &kafka.Writer{Addr: kafka.TCP(c.brokers...), Transport: c.tr, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	t.Cleanup(func() { dlq.Close() })
	rec := newRecorder()
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		mu.Lock()
		attempts[m.Offset]++
		n := attempts[m.Offset]
		mu.Unlock()
		switch {
		case m.Offset == 1 && n < 3:
			return errors.New("transient")
		case m.Offset == 2:
			return errInvalid
		}
		return rec.handle(ctx, m)
	}, append(fastGroupOptions(c, groupID(t), topics[0]),
		flexkafka.WithMiddleware(record, flexkafka.DeadLetter(topics[1], dlq), flexkafka.Retry(flexkafka.RetryPolicy{
			BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond,
			Permanent: func(err error) bool { return errors.Is(err, errInvalid) },
		})))...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, w)
	waitFor(t, rec.at(3), "the other messages")
	dead := readAll(t, c, topics[1])
	if len(dead) != 1 || string(dead[0].Value) != "2" || header(dead[0], flexkafka.HeaderDLQAttempts) != "1" {
		t.Fatalf("dead letters %v, want message 2 after 1 attempt", dead)
	}
	mu.Lock()
	defer mu.Unlock()
	if outer[1] != 1 || attempts[1] != 3 || outer[2] != 1 || attempts[2] != 1 {
		t.Errorf("outer middleware saw %v, handler calls %v: want each message once outside Retry, 3 calls for 1, 1 for 2", outer, attempts)
	}
}

// TestNoMiddleware: with the policies dropped, a handler error stops the
// consumer after one attempt, the message uncommitted.
func TestNoMiddleware(t *testing.T) {
	c, topics := newCluster(t, 1, "bare")
	produce(t, c, topics[0], 0, 1)
	boom := errors.New("boom")
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error { return boom },
		append(fastGroupOptions(c, groupID(t), topics...), flexkafka.WithMiddleware())...)
	if err != nil {
		t.Fatal(err)
	}
	err = waitFor(t, running(t, w), "Run to stop")
	var herr *flexkafka.HandlerError
	if !errors.As(err, &herr) || !errors.Is(err, boom) || herr.Attempts != 1 {
		t.Fatalf("Run = %v, want a *HandlerError wrapping boom after 1 attempt", err)
	}
}
