package kafkatest_test

// Benchmarks of flexkafka against raw kafka-go, side by side in one run,
// against the same broker (kfake in-process, or FLEX_KAFKA_TEST_BROKERS):
//
//	go test -run '^$' -bench . -benchtime 1x
//
// Each benchmark reports messages per second for both and their ratio
// ("x-raw": flexkafka's rate divided by raw kafka-go's).

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

// createTopic makes a fresh topic for one benchmark iteration.
func createTopic(b *testing.B, c *cluster, partitions int) string {
	b.Helper()
	name := "bench-" + randomSuffix()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(c.brokers...), Transport: c.tr} // the helpers' transport then knows the topic
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: name, NumPartitions: partitions, ReplicationFactor: 1}}})
	if err != nil || resp.Errors[name] != nil {
		b.Fatalf("create topic: %v %v", err, resp)
	}
	return name
}

// rawConsume is the loop kafka-go's README suggests for at-least-once
// delivery: a group Reader, FetchMessage, handle, CommitMessages for each
// message. It returns how long it took to handle n messages.
func rawConsume(b *testing.B, c *cluster, topic string, n int, handle func()) time.Duration {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: c.brokers, GroupID: "raw-" + randomSuffix(), Topic: topic,
		HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: 6 * time.Second, RebalanceTimeout: 3 * time.Second,
		JoinGroupBackoff: 100 * time.Millisecond, MaxWait: 100 * time.Millisecond, StartOffset: kafka.FirstOffset,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	for range n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			b.Fatalf("raw fetch: %v", err)
		}
		handle()
		if err := r.CommitMessages(ctx, m); err != nil {
			b.Fatalf("raw commit: %v", err)
		}
	}
	return time.Since(start)
}

// flexConsume runs a Consumer until n messages are handled.
func flexConsume(b *testing.B, c *cluster, topic string, n int, handle func(), opts ...flexkafka.ConsumerOption) time.Duration {
	var handled atomic.Int64
	all := make(chan struct{})
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		handle()
		if handled.Add(1) == int64(n) {
			close(all)
		}
		return nil
	}, append(fastOptions(c, "flex-"+randomSuffix(), topic), opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatal("consumer did not handle every message")
	}
	elapsed := time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := w.Halt(ctx); err != nil {
		b.Fatalf("Halt: %v", err)
	}
	<-done
	return elapsed
}

type rates map[string]time.Duration

func (r rates) report(b *testing.B, total int, base string) {
	for name, d := range r {
		b.ReportMetric(float64(total)/d.Seconds(), name+"-msgs/s")
	}
	for name, d := range r {
		if name != base {
			b.ReportMetric(r[base].Seconds()/d.Seconds(), name+"-x-"+base)
		}
	}
}

func benchConsume(b *testing.B, partitions, perOp int, handle func(), variants map[string][]flexkafka.ConsumerOption) {
	c, _ := newCluster(b, 1, "unused")
	elapsed := rates{}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		topics := map[string]string{"raw": createTopic(b, c, partitions)}
		for name := range variants {
			topics[name] = createTopic(b, c, partitions)
		}
		for _, topic := range topics {
			produce(b, c, topic, 0, perOp)
		}
		b.StartTimer()
		elapsed["raw"] += rawConsume(b, c, topics["raw"], perOp, handle)
		for name, opts := range variants {
			elapsed[name] += flexConsume(b, c, topics[name], perOp, handle, opts...)
		}
	}
	elapsed.report(b, b.N*perOp, "raw")
}

// BenchmarkConsumeNoop: a handler that does nothing, 4 partitions; the
// cost of the machinery (fetch, dispatch, commit).
func BenchmarkConsumeNoop(b *testing.B) {
	benchConsume(b, 4, 2000, func() {}, map[string][]flexkafka.ConsumerOption{
		"flex": nil,
	})
}

// BenchmarkConsumeIOBound: a handler that waits 1 ms (a database call),
// 8 partitions: per-partition concurrency pays. "flex-commit-each" commits
// after every message, as the raw loop does.
func BenchmarkConsumeIOBound(b *testing.B) {
	benchConsume(b, 8, 400, func() { time.Sleep(time.Millisecond) }, map[string][]flexkafka.ConsumerOption{
		"flex":             nil,
		"flex-commit-each": {flexkafka.WithCommitInterval(0)},
	})
}

// BenchmarkProduce: concurrent synchronous single-message writes, the
// usual shape in a service (one write per request), through a raw
// kafka.Writer and a Producer with the same settings.
func BenchmarkProduce(b *testing.B) {
	const writers, each = 8, 100
	c, _ := newCluster(b, 1, "unused")
	elapsed := rates{}
	run := func(write func(ctx context.Context, m kafka.Message) error) time.Duration {
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
		return time.Since(start)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		rawTopic, flexTopic := createTopic(b, c, 4), createTopic(b, c, 4)
		raw := &kafka.Writer{Addr: kafka.TCP(c.brokers...), Transport: c.tr, Topic: rawTopic, Balancer: kafka.CRC32Balancer{},
			RequiredAcks: kafka.RequireAll, BatchTimeout: flexkafka.DefaultBatchTimeout, BatchSize: 100}
		p, err := flexkafka.NewProducer(flexkafka.WithBrokers(c.brokers...), flexkafka.WithTopics(flexTopic), flexkafka.WithLogger(testLogger()))
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
		elapsed["raw"] += run(func(ctx context.Context, m kafka.Message) error { return raw.WriteMessages(ctx, m) })
		elapsed["flex"] += run(func(ctx context.Context, m kafka.Message) error { return p.Produce(ctx, m) })
		b.StopTimer()
		raw.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		p.Halt(ctx)
		cancel()
		b.StartTimer()
	}
	elapsed.report(b, b.N*writers*each, "raw")
}
