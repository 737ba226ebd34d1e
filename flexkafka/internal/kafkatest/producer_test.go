package kafkatest_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flex/flextest"
	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

func TestProducerConformance(t *testing.T) {
	c, topics := newCluster(t, 2, "pconf")
	flextest.TestWorker(t, func(t *testing.T) flex.Worker {
		p, err := flexkafka.NewProducer(flexkafka.WithBrokers(c.brokers...), flexkafka.WithTopics(topics[0]),
			flexkafka.WithLogger(testLogger()))
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
}

// TestProduceSync: a synchronous Produce returns once the messages are
// written; keys stay on one partition; topics default and can be chosen
// per message.
func TestProduceSync(t *testing.T) {
	c, topics := newCluster(t, 4, "sync", "other")
	p, err := flexkafka.NewProducer(flexkafka.WithBrokers(c.brokers...), flexkafka.WithTopics(topics[0]),
		flexkafka.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var msgs []kafka.Message
	for i := range 40 {
		msgs = append(msgs, kafka.Message{Key: []byte("key" + strconv.Itoa(i%5)), Value: []byte(strconv.Itoa(i)),
			Headers: []kafka.Header{{Key: "h", Value: []byte("v")}}})
	}
	if err := p.Produce(ctx, msgs...); err != nil {
		t.Fatalf("Produce: %v", err)
	}
	if msgs[0].Topic != "" {
		t.Error("Produce modified the caller's messages")
	}
	if err := p.Produce(ctx, kafka.Message{Topic: topics[1], Value: []byte("elsewhere")}); err != nil {
		t.Fatalf("Produce to another topic: %v", err)
	}
	got := readAll(t, c, topics[0])
	if len(got) != 40 {
		t.Fatalf("read %d messages, want 40", len(got))
	}
	partitionOf := map[string]int{}
	for _, m := range got {
		if prev, ok := partitionOf[string(m.Key)]; ok && prev != m.Partition {
			t.Errorf("key %s on partitions %d and %d", m.Key, prev, m.Partition)
		}
		partitionOf[string(m.Key)] = m.Partition
		if header(m, "h") != "v" {
			t.Errorf("header lost: %+v", m.Headers)
		}
	}
	if got := readAll(t, c, topics[1]); len(got) != 1 {
		t.Errorf("other topic has %d messages, want 1", len(got))
	}
	if st := p.Stats(); st.Messages != 41 || st.Errors != 0 {
		t.Errorf("Stats = %+v, want 41 messages", st)
	}
	if err := p.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	if err := haltNow(t, p); err != nil {
		t.Fatalf("Halt: %v", err)
	}
}

// TestProducerHaltFlushes: everything accepted before Halt is readable
// after it, even in async mode where Produce returns before the write;
// Produce after Halt fails with ErrProducerClosed. The batches neither fill
// nor time out, so only Halt's flush can write them.
func TestProducerHaltFlushes(t *testing.T) {
	const writers, each = 4, 250
	c, topics := newCluster(t, 3, "flush")
	p, err := flexkafka.NewProducer(flexkafka.WithBrokers(c.brokers...), flexkafka.WithTopics(topics[0]),
		flexkafka.WithAsync(nil), flexkafka.WithBatch(2*writers*each, time.Hour), flexkafka.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, p)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				if err := p.Produce(context.Background(), kafka.Message{Value: []byte(strconv.Itoa(g*each + i))}); err != nil {
					t.Errorf("Produce: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := haltNow(t, p); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	if err := waitFor(t, done, "Run"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := p.Produce(context.Background(), kafka.Message{Value: []byte("late")}); !errors.Is(err, flexkafka.ErrProducerClosed) {
		t.Fatalf("Produce after Halt = %v, want ErrProducerClosed", err)
	}
	got := readAll(t, c, topics[0])
	seen := map[string]bool{}
	for _, m := range got {
		seen[string(m.Value)] = true
	}
	for i := range writers * each {
		if !seen[strconv.Itoa(i)] {
			t.Fatalf("message %d accepted before Halt is missing (%d read)", i, len(got))
		}
	}
	if st := p.Stats(); st.Messages != writers*each {
		t.Errorf("Stats = %+v, want %d messages", st, writers*each)
	}
}

// TestProducerAsyncError: in async mode a batch that fails after Produce
// returned goes to the callback and is counted; an error found before
// queueing (an unknown topic) is returned at once.
func TestProducerAsyncError(t *testing.T) {
	c, topics := newCluster(t, 1, "async")
	if c.fake == nil {
		t.Skip("stops the broker: kfake only")
	}
	failed := make(chan error, 10)
	p, err := flexkafka.NewProducer(flexkafka.WithBrokers(c.brokers...), flexkafka.WithTopics(topics[0]),
		flexkafka.WithWriteAttempts(1),
		flexkafka.WithAsync(func(msgs []kafka.Message, err error) { failed <- err }), flexkafka.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	running(t, p)
	ctx := context.Background()
	if err := p.Produce(ctx, kafka.Message{Topic: "missing-topic", Value: []byte("x")}); err == nil {
		t.Fatal("async Produce to an unknown topic succeeded")
	}
	if err := p.Produce(ctx, kafka.Message{Value: []byte("ok")}); err != nil {
		t.Fatalf("Produce: %v", err)
	}
	eventually(t, "the first message written", func() bool { return p.Stats().Messages == 1 })
	c.fake.Close()
	if err := p.Produce(ctx, kafka.Message{Value: []byte("lost")}); err != nil {
		t.Fatalf("async Produce = %v, want nil (failures are reported later)", err)
	}
	if err := waitFor(t, failed, "the failure callback"); err == nil {
		t.Fatal("callback called with a nil error")
	}
	eventually(t, "both errors counted", func() bool { return p.Stats().Errors == 2 })
}

// TestProduceSyncError: a synchronous write failure is returned and counted.
func TestProduceSyncError(t *testing.T) {
	c, _ := newCluster(t, 1, "exists")
	p, err := flexkafka.NewProducer(flexkafka.WithBrokers(c.brokers...), flexkafka.WithWriteAttempts(1), flexkafka.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := p.Produce(ctx, kafka.Message{Topic: "missing-topic", Value: []byte("x")}); err == nil {
		t.Fatal("Produce to a missing topic succeeded")
	}
	if err := p.Produce(ctx, kafka.Message{Value: []byte("no topic")}); err == nil {
		t.Fatal("Produce without a topic succeeded")
	}
	if st := p.Stats(); st.Errors != 1 {
		t.Errorf("Stats = %+v, want 1 error", st)
	}
	haltNow(t, p)
}

// TestProducerCheckBrokerGone: Check fails once the broker is gone, and
// Halt still returns.
func TestProducerCheckBrokerGone(t *testing.T) {
	c, topics := newCluster(t, 1, "pgone")
	if c.fake == nil {
		t.Skip("stops the broker: kfake only")
	}
	p, err := flexkafka.NewProducer(flexkafka.WithBrokers(c.brokers...), flexkafka.WithTopics(topics[0]), flexkafka.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	c.fake.Close()
	if err := p.Check(ctx); err == nil {
		t.Fatal("Check passed with the broker gone")
	}
	haltNow(t, p)
}
