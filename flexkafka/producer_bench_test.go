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
// Producer's per-message accounting. The burst is twice
// DefaultMaxBuffered, so "flex" also pays for being paced by its bound
// (the raw Writer has none); "flex-bound-burst" has a bound above the
// burst.
func BenchmarkProduceAsync(b *testing.B) {
	const writers, each = 4, flexkafka.DefaultMaxBuffered / 2
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
		rawTopic := createTopic(b, c, 4)
		topics := map[string]string{"flex": createTopic(b, c, 4), "flex-bound-burst": createTopic(b, c, 4)}
		var rawAcked, rawFailed atomic.Int64
		// Its own transport, as each Producer has: a fresh one knows the new topic.
		tr := &kafka.Transport{}
		raw := &kafka.Writer{Addr: kafka.TCP(c.brokers...), Transport: tr, Topic: rawTopic, Balancer: kafka.CRC32Balancer{},
			RequiredAcks: kafka.RequireAll, BatchTimeout: flexkafka.DefaultBatchTimeout, BatchSize: 100, Async: true,
			Completion: func(msgs []kafka.Message, err error) {
				if err != nil {
					rawFailed.Add(int64(len(msgs)))
					return
				}
				rawAcked.Add(int64(len(msgs)))
			}}
		if err := raw.WriteMessages(context.Background(), kafka.Message{Value: []byte("warm")}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		elapsed["raw"] += run(func(ctx context.Context, m kafka.Message) error { return raw.WriteMessages(ctx, m) },
			func() { raw.Close() })
		b.StopTimer()
		tr.CloseIdleConnections()
		if got := rawAcked.Load(); got != writers*each+1 || rawFailed.Load() != 0 {
			b.Fatalf("raw writer: %d acknowledged, %d failed, want %d acknowledged", got, rawFailed.Load(), writers*each+1)
		}
		for name, bound := range map[string]int{"flex": flexkafka.DefaultMaxBuffered, "flex-bound-burst": writers*each + 1} {
			p, err := flexkafka.NewProducer(flexkafka.WithBrokers(c.brokers...), flexkafka.WithTopics(topics[name]),
				flexkafka.WithAsync(func(msgs []kafka.Message, err error) { b.Errorf("async write: %v", err) }),
				flexkafka.WithMaxBuffered(bound), flexkafka.WithLogger(testLogger()))
			if err != nil {
				b.Fatal(err)
			}
			// Warmed up (metadata, connections) outside the timer.
			if err := p.Produce(context.Background(), kafka.Message{Value: []byte("warm")}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			elapsed[name] += run(func(ctx context.Context, m kafka.Message) error { return p.Produce(ctx, m) },
				func() {
					if err := haltNow(b, p); err != nil {
						b.Errorf("Halt: %v", err)
					}
				})
			b.StopTimer()
			if st := p.Stats(); st.Messages != writers*each+1 {
				b.Fatalf("Producer: %+v, want %d acknowledged", st, writers*each+1)
			}
		}
		b.StartTimer()
	}
	elapsed.report(b, b.N*writers*each, "raw")
}
