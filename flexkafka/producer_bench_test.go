package flexkafka_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

// BenchmarkProduceAsync: concurrent asynchronous single-message writes
// until every message is acknowledged (the writer closed, the Producer
// halted), through a raw asynchronous kafka.Writer counting completions
// and a Producer under WithAsync with the same settings: the cost of the
// Producer's per-message accounting and of its buffer bound.
func BenchmarkProduceAsync(b *testing.B) {
	const writers, each = 4, 5000
	c, _ := newCluster(b, 1, "unused")
	elapsed := rates{}
	run := func(write func(ctx context.Context, m kafka.Message) error, flush func()) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for g := range writers {
			wg.Go(func() {
				for i := range each {
					if err := write(context.Background(), kafka.Message{Key: []byte(strconv.Itoa(g*each + i)), Value: []byte("v")}); err != nil {
						b.Errorf("write: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		flush()
		return time.Since(start)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		rawTopic, flexTopic := createTopic(b, c, 4), createTopic(b, c, 4)
		var rawAcked, rawFailed atomic.Int64
		raw := &kafka.Writer{Addr: kafka.TCP(c.brokers...), Topic: rawTopic, Balancer: kafka.CRC32Balancer{},
			RequiredAcks: kafka.RequireAll, BatchTimeout: flexkafka.DefaultBatchTimeout, BatchSize: 100, Async: true,
			Completion: func(msgs []kafka.Message, err error) {
				if err != nil {
					rawFailed.Add(int64(len(msgs)))
					return
				}
				rawAcked.Add(int64(len(msgs)))
			}}
		p, err := flexkafka.NewProducer(flexkafka.WithBrokers(c.brokers...), flexkafka.WithTopics(flexTopic),
			flexkafka.WithAsync(func(msgs []kafka.Message, err error) { b.Errorf("async write: %v", err) }),
			flexkafka.WithLogger(testLogger()))
		if err != nil {
			b.Fatal(err)
		}
		// Warm both up (metadata, connections) outside the timer.
		if err := raw.WriteMessages(context.Background(), kafka.Message{Value: []byte("warm")}); err != nil {
			b.Fatal(err)
		}
		if err := p.Produce(context.Background(), kafka.Message{Value: []byte("warm")}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		elapsed["raw"] += run(func(ctx context.Context, m kafka.Message) error { return raw.WriteMessages(ctx, m) },
			func() { raw.Close() })
		elapsed["flex"] += run(func(ctx context.Context, m kafka.Message) error { return p.Produce(ctx, m) },
			func() {
				if err := haltNow(b, p); err != nil {
					b.Errorf("Halt: %v", err)
				}
			})
		b.StopTimer()
		if got := rawAcked.Load(); got != writers*each+1 || rawFailed.Load() != 0 {
			b.Fatalf("raw writer: %d acknowledged, %d failed, want %d acknowledged", got, rawFailed.Load(), writers*each+1)
		}
		if st := p.Stats(); st.Messages != writers*each+1 {
			b.Fatalf("Producer: %+v, want %d acknowledged", st, writers*each+1)
		}
		b.StartTimer()
	}
	elapsed.report(b, b.N*writers*each, "raw")
}
