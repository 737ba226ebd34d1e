package flex_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
)

// The benchmarks start n function workers; the last one to start cancels
// the context, and the service shuts them all down. The baseline does the
// same with plain goroutines, a WaitGroup and a context: the least any
// supervisor can do.

var workerCounts = []int{1, 100, 10_000}

// lastCancels returns a function that cancels ctx on its n-th call.
func lastCancels(n int) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var started atomic.Int64
	return ctx, func() {
		if started.Add(1) == int64(n) {
			cancel()
		}
	}
}

func baselineStartHalt(n int) {
	ctx, started := lastCancels(n)
	var stopped sync.WaitGroup
	stopped.Add(n)
	for range n {
		go func() {
			defer stopped.Done()
			started()
			<-ctx.Done()
		}()
	}
	stopped.Wait()
}

// flexStartHalt runs n workers with Start, directly (halted one by one, in
// reverse order) or inside one Group (halted concurrently).
func flexStartHalt(b *testing.B, n int, grouped bool) {
	ctx, started := lastCancels(n)
	workers := make([]flex.Worker, n)
	for i := range workers {
		workers[i] = flex.Func(func(ctx context.Context) error {
			started()
			<-ctx.Done()
			return nil
		})
	}
	if grouped {
		workers = []flex.Worker{flex.NewGroup(workers...)}
	}
	svc := flex.New(flex.WithLogger(slog.New(slog.DiscardHandler)), flex.WithSignals(), flex.WithShutdownDelay(0))
	if err := svc.Start(ctx, workers...); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkStartHalt(b *testing.B) {
	for _, n := range workerCounts {
		b.Run(fmt.Sprintf("n=%d/baseline", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				baselineStartHalt(n)
			}
		})
		b.Run(fmt.Sprintf("n=%d/flex", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				flexStartHalt(b, n, false)
			}
		})
		b.Run(fmt.Sprintf("n=%d/flex-group", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				flexStartHalt(b, n, true)
			}
		})
	}
}

// BenchmarkStartHaltRatio interleaves flex and the baseline in every
// iteration, so that the machine's load falls on both alike, and reports
// the ratio of their times and allocations.
func BenchmarkStartHaltRatio(b *testing.B) {
	for _, n := range workerCounts {
		for _, grouped := range []bool{false, true} {
			name := fmt.Sprintf("n=%d/flex", n)
			if grouped {
				name += "-group"
			}
			b.Run(name, func(b *testing.B) {
				var flexTime, baseTime time.Duration
				var flexAllocs, baseAllocs uint64
				for b.Loop() {
					a0 := mallocs()
					t0 := time.Now()
					baselineStartHalt(n)
					baseTime += time.Since(t0)
					a1 := mallocs()
					t1 := time.Now()
					flexStartHalt(b, n, grouped)
					flexTime += time.Since(t1)
					a2 := mallocs()
					baseAllocs += a1 - a0
					flexAllocs += a2 - a1
				}
				iters := float64(b.N)
				b.ReportMetric(float64(baseTime.Nanoseconds())/iters, "base-ns/op")
				b.ReportMetric(float64(flexTime.Nanoseconds())/iters, "flex-ns/op")
				b.ReportMetric(float64(flexTime)/float64(baseTime), "time-ratio")
				b.ReportMetric(float64(baseAllocs)/iters, "base-allocs/op")
				b.ReportMetric(float64(flexAllocs)/iters, "flex-allocs/op")
			})
		}
	}
}

func mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}
