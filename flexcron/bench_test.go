package flexcron_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexcron"
	"github.com/robfig/cron/v3"
)

// BenchmarkLateness measures scheduling lateness, the time from when a run
// was due to when the job function starts, for 1,000 jobs on "@every 1s",
// with flexcron and with robfig/cron used directly, side by side. Each side
// runs for about 3 s of wall-clock time, so run it once:
//
//	go test -run '^$' -bench Lateness -benchtime 1x
//
// Both sides log nothing (robfig/cron's default; flexcron with a discard
// handler) and take the due time as the start time truncated to the second,
// which is exact for "@every 1s" as long as lateness stays under a second.
func BenchmarkLateness(b *testing.B) {
	const jobs, window = 1000, 3 * time.Second
	for range b.N {
		ours := latenessFlexcron(b, jobs, window)
		raw := latenessRobfig(b, jobs, window)
		for _, m := range []struct {
			name string
			q    float64
		}{{"p50", 0.50}, {"p99", 0.99}} {
			o, r := percentile(ours, m.q), percentile(raw, m.q)
			b.ReportMetric(float64(o), "flexcron-"+m.name+"-ns")
			b.ReportMetric(float64(r), "robfig-"+m.name+"-ns")
			if r > 0 {
				b.ReportMetric(float64(o)/float64(r), m.name+"-ratio")
			}
		}
		b.ReportMetric(float64(len(ours)), "flexcron-runs")
		b.ReportMetric(float64(len(raw)), "robfig-runs")
	}
}

type samples struct {
	v []int64
	n atomic.Int64
}

func newSamples(jobs int, window time.Duration) *samples {
	return &samples{v: make([]int64, jobs*(int(window/time.Second)+2))}
}

func (s *samples) record() {
	now := time.Now()
	if i := s.n.Add(1) - 1; int(i) < len(s.v) {
		s.v[i] = int64(now.Sub(now.Truncate(time.Second)))
	}
}

func (s *samples) values() []int64 {
	return s.v[:min(int(s.n.Load()), len(s.v))]
}

func latenessFlexcron(b *testing.B, jobs int, window time.Duration) []int64 {
	s, err := flexcron.New(flexcron.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	rec := newSamples(jobs, window)
	for i := range jobs {
		if err := s.Add(fmt.Sprintf("job-%d", i), "@every 1s",
			func(context.Context) error { rec.record(); return nil }); err != nil {
			b.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	<-s.Ready()
	time.Sleep(window)
	if err := s.Halt(context.Background()); err != nil {
		b.Fatal(err)
	}
	<-done
	return rec.values()
}

func latenessRobfig(b *testing.B, jobs int, window time.Duration) []int64 {
	c := cron.New()
	rec := newSamples(jobs, window)
	for range jobs {
		if _, err := c.AddFunc("@every 1s", rec.record); err != nil {
			b.Fatal(err)
		}
	}
	c.Start()
	time.Sleep(window)
	<-c.Stop().Done()
	return rec.values()
}

func percentile(v []int64, q float64) int64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
