package kafkatest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flex/flextest"
	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

func TestBatchConsumerConformance(t *testing.T) {
	c, topics := newCluster(t, 2, "bconf")
	flextest.TestWorker(t, func(t *testing.T) flex.Worker {
		w, err := flexkafka.NewBatchConsumer(func(context.Context, []kafka.Message) error { return nil },
			fastOptions(c, groupID(t), topics...)...)
		if err != nil {
			t.Fatal(err)
		}
		return w
	})
}

// TestBatchConsumer: batches hold consecutive messages of one partition,
// never more than the size, and everything is handled and committed.
func TestBatchConsumer(t *testing.T) {
	const n, partitions, size = 300, 3, 16
	c, topics := newCluster(t, partitions, "batch")
	produce(t, c, topics[0], 0, n)
	group := groupID(t)
	rec := newRecorder()
	var mu sync.Mutex
	var batches, largest int
	var bad error
	w, err := flexkafka.NewBatchConsumer(func(ctx context.Context, msgs []kafka.Message) error {
		mu.Lock()
		batches++
		largest = max(largest, len(msgs))
		for i := 1; i < len(msgs); i++ {
			if msgs[i].Partition != msgs[0].Partition || msgs[i].Offset != msgs[i-1].Offset+1 {
				bad = errors.New("batch not consecutive in one partition")
			}
		}
		mu.Unlock()
		for _, m := range msgs {
			rec.handle(ctx, m)
		}
		return nil
	}, append(fastOptions(c, group, topics...), flexkafka.WithMaxBatch(size, 20*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	waitFor(t, rec.at(n), "all handled")
	if err := haltNow(t, w); err != nil {
		t.Fatal(err)
	}
	waitFor(t, done, "Run")
	mu.Lock()
	defer mu.Unlock()
	if bad != nil {
		t.Fatal(bad)
	}
	if largest > size || largest < 2 {
		t.Errorf("largest batch %d, want 2 to %d", largest, size)
	}
	if missing, dups := rec.check(0, n); len(missing) > 0 || dups > 0 {
		t.Fatalf("missing %v, %d duplicates", missing, dups)
	}
	var total int64
	for _, off := range committed(t, c, group, topics[0], partitions) {
		total += off
	}
	if total != n {
		t.Errorf("committed offsets add up to %d, want %d", total, n)
	}
	if st := w.Stats(); st.Messages != n {
		t.Errorf("Stats.Messages = %d, want %d", st.Messages, n)
	}
	t.Logf("%d batches, largest %d", batches, largest)
}

// TestBatchDeadLetter: a failing batch is retried whole, then, once its
// failure is permanent, each of its messages is dead-lettered.
func TestBatchDeadLetter(t *testing.T) {
	c, topics := newCluster(t, 1, "bdlq", "bdlq-dead")
	produce(t, c, topics[0], 0, 5)
	var calls, sizes int
	var mu sync.Mutex
	w, err := flexkafka.NewBatchConsumer(func(ctx context.Context, msgs []kafka.Message) error {
		mu.Lock()
		calls++
		sizes += len(msgs)
		n := calls
		mu.Unlock()
		if n == 1 {
			return errors.New("bulk insert failed")
		}
		return flexkafka.Permanent(errors.New("bulk insert rejected"))
	}, append(fastOptions(c, groupID(t), topics[0]), flexkafka.WithMaxBatch(100, 50*time.Millisecond),
		flexkafka.WithDeadLetterTopic(topics[1]))...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, w)
	eventually(t, "5 dead-lettered", func() bool { return w.Stats().DeadLettered == 5 })
	dead := readAll(t, c, topics[1])
	if len(dead) != 5 {
		t.Fatalf("dead-letter topic has %d messages, want 5", len(dead))
	}
	for i, m := range dead {
		if got := header(m, flexkafka.HeaderDLQOffset); got != string(rune('0'+i)) {
			t.Errorf("dead letter %d has offset header %q", i, got)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if sizes != 2*5 {
		t.Errorf("handler saw %d messages over %d calls, want every message twice (2 attempts)", sizes, calls)
	}
}

// TestBatchDeadLetterOne: a middleware that hands a failing batch's
// messages to DeadLetter one at a time dead-letters only the bad one; the
// counters count one dead letter and the other messages as handled.
func TestBatchDeadLetterOne(t *testing.T) {
	c, topics := newCluster(t, 1, "bdlq1", "bdlq1-dead")
	produce(t, c, topics[0], 0, 5)
	bad := errors.New("message 2 is malformed")
	handler := func(ctx context.Context, msgs []kafka.Message) error {
		for _, m := range msgs {
			if m.Offset == 2 {
				return flexkafka.Permanent(bad)
			}
		}
		return nil
	}
	retry, deadLetter := flexkafka.Retry(flexkafka.RetryPolicy{}), flexkafka.DeadLetter(topics[1], nil)
	split := func(next flexkafka.BatchHandler) flexkafka.BatchHandler {
		whole, one := retry(next), deadLetter(retry(next))
		return func(ctx context.Context, msgs []kafka.Message) error {
			if err := whole(ctx, msgs); !errors.Is(err, bad) {
				return err
			}
			for i := range msgs {
				if err := one(ctx, msgs[i:i+1]); err != nil {
					return err
				}
			}
			return nil
		}
	}
	w, err := flexkafka.NewBatchConsumer(handler, append(fastGroupOptions(c, groupID(t), topics[0]),
		flexkafka.WithMaxBatch(100, 50*time.Millisecond), flexkafka.WithMiddleware(split))...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, w)
	eventually(t, "5 messages settled", func() bool { s := w.Stats(); return s.DeadLettered+s.Messages == 5 })
	if s := w.Stats(); s.DeadLettered != 1 || s.Messages != 4 {
		t.Errorf("dead-lettered %d, handled %d; want 1 and 4", s.DeadLettered, s.Messages)
	}
	dead := readAll(t, c, topics[1])
	if len(dead) != 1 || header(dead[0], flexkafka.HeaderDLQOffset) != "2" {
		t.Errorf("dead-letter topic has %d messages, want only offset 2", len(dead))
	}
}

func TestNilBatchHandler(t *testing.T) {
	if _, err := flexkafka.NewBatchConsumer(nil); err == nil {
		t.Fatal("NewBatchConsumer(nil) succeeded")
	}
	t.Setenv("FLEX_KAFKA_BROKERS", "")
	if _, err := flexkafka.NewBatchConsumer(func(context.Context, []kafka.Message) error { return nil }); err == nil {
		t.Fatal("NewBatchConsumer without brokers succeeded")
	}
}
