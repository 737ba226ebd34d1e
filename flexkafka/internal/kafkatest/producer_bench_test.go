package kafkatest_test

import (
	"context"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
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
//
// Each side gets a fresh topic, writer and transport, is warmed up
// (metadata, connections) and starts from a collected heap, outside the
// timer. The sides run in every order in turn: a side's cost depends on
// the heap that the one before left, so a fixed order (raw always first)
// is not neutral. Use a -benchtime that is a multiple of 6. Besides the
// rates, it reports the process CPU time per message of each side over
// raw's (cpu-x-raw, from getrusage: the in-process broker's work
// included).
func BenchmarkProduceAsync(b *testing.B) {
	const writers, each = 4, flexkafka.DefaultMaxBuffered / 2
	const total = writers*each + 1 // with the warm-up message
	c, _ := newCluster(b, 1, "unused")
	elapsed, cpu := rates{}, map[string]time.Duration{}
	run := func(name string, write func(ctx context.Context, m kafka.Message) error, flush func()) {
		runtime.GC() // each side starts from a collected heap, and pays for its own garbage only
		b.StartTimer()
		defer b.StopTimer()
		startCPU, start := processCPU(b), time.Now()
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
		elapsed[name] += time.Since(start)
		cpu[name] += processCPU(b) - startCPU
	}
	sides := []func(){
		func() { benchRawAsync(b, c, run, total) },
		func() { benchFlexAsync(b, c, run, "flex", flexkafka.DefaultMaxBuffered, total) },
		func() { benchFlexAsync(b, c, run, "flex-bound-burst", total, total) },
	}
	names := []string{"raw", "flex", "flex-bound-burst"}
	defer pprof.SetGoroutineLabels(context.Background())
	b.ResetTimer()
	b.StopTimer()
	// Every order of the sides in turn, so that each follows each other
	// as often: a side's cost depends on the heap its predecessor left.
	orders := [][]int{{0, 1, 2}, {1, 2, 0}, {2, 0, 1}, {0, 2, 1}, {2, 1, 0}, {1, 0, 2}}
	for i := range b.N {
		for _, k := range orders[i%len(orders)] {
			// Labelled, with the goroutines each side starts, for
			// go tool pprof -tagfocus=side=flex (or raw).
			pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("side", names[k])))
			sides[k]()
		}
	}
	elapsed.report(b, b.N*writers*each, "raw")
	for name, d := range cpu {
		if name != "raw" {
			b.ReportMetric(d.Seconds()/cpu["raw"].Seconds(), name+"-cpu-x-raw")
		}
	}
}

type benchRun func(name string, write func(ctx context.Context, m kafka.Message) error, flush func())

// benchRawAsync writes through an asynchronous kafka.Writer with the
// Producer's settings, counting completions as the Producer does.
func benchRawAsync(b *testing.B, c *cluster, run benchRun, total int64) {
	var acked, failed atomic.Int64
	// Its own transport, as each Producer has: a fresh one knows the new topic.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	raw := &kafka.Writer{Addr: kafka.TCP(c.brokers...), Transport: tr, Topic: createTopic(b, c, 4), Balancer: kafka.CRC32Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: flexkafka.DefaultBatchTimeout, BatchSize: 100,
		Async: true,
		Completion: func(msgs []kafka.Message, err error) {
			if err != nil {
				failed.Add(int64(len(msgs)))
				return
			}
			acked.Add(int64(len(msgs)))
		}}
	if err := raw.WriteMessages(context.Background(), kafka.Message{Value: []byte("warm")}); err != nil {
		b.Fatal(err)
	}
	run("raw", func(ctx context.Context, m kafka.Message) error { return raw.WriteMessages(ctx, m) }, func() { raw.Close() })
	if acked.Load() != total || failed.Load() != 0 {
		b.Fatalf("raw writer: %d acknowledged, %d failed, want %d acknowledged", acked.Load(), failed.Load(), total)
	}
}

// benchFlexAsync writes through a Producer under WithAsync holding at most
// bound messages.
func benchFlexAsync(b *testing.B, c *cluster, run benchRun, name string, bound int, total uint64) {
	p, err := flexkafka.NewProducer(flexkafka.WithBrokers(c.brokers...), flexkafka.WithTopics(createTopic(b, c, 4)),
		flexkafka.WithAsync(func(msgs []kafka.Message, err error) { b.Errorf("async write: %v", err) }),
		flexkafka.WithMaxBuffered(bound), flexkafka.WithLogger(testLogger()))
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Produce(context.Background(), kafka.Message{Value: []byte("warm")}); err != nil {
		b.Fatal(err)
	}
	run(name, func(ctx context.Context, m kafka.Message) error { return p.Produce(ctx, m) }, func() {
		if err := haltNow(b, p); err != nil {
			b.Errorf("Halt: %v", err)
		}
	})
	if st := p.Stats(); st.Messages != total {
		b.Fatalf("Producer: %+v, want %d acknowledged", st, total)
	}
}

// processCPU is the CPU time the process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
