package main

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexcron"
)

// TestCronTickRunsOnce runs one job on two schedulers, standing for two
// replicas, each with its own connection pool on one database, every
// second: both come due at the same ticks, and the job's body runs once
// per tick. The schedulers have no lock, so the claim in job_runs alone
// must do it; without it, every tick runs twice.
func TestCronTickRunsOnce(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		var (
			mu   sync.Mutex
			runs = map[time.Time][]string{} // replicas that ran each tick
		)
		scheds := make([]*flexcron.Scheduler, 2)
		for i, name := range []string{"a", "b"} {
			s := &store{db: openTestDB(t, cfg)}
			sched, err := flexcron.New(flexcron.WithLogger(testLogger()))
			if err != nil {
				t.Fatal(err)
			}
			body := func(ctx context.Context) error {
				tick, _ := flexcron.ScheduledTime(ctx)
				mu.Lock()
				runs[tick] = append(runs[tick], name)
				mu.Unlock()
				return nil
			}
			if err := addJobs(sched, s, testLogger(), cronJob{"every-second", "* * * * * *", body}); err != nil {
				t.Fatal(err)
			}
			scheds[i] = sched
		}
		for _, sched := range scheds {
			go sched.Run(context.Background())
			<-sched.Ready()
		}
		// Each scheduler's Runs counts its ticks, run or found claimed.
		waitFor(t, "two ticks on each replica", func() bool {
			return scheds[0].Stats()[0].Runs >= 2 && scheds[1].Stats()[0].Runs >= 2
		})
		for _, sched := range scheds {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			if err := sched.Halt(ctx); err != nil {
				t.Error(err)
			}
			cancel()
		}
		for tick, replicas := range runs {
			if len(replicas) != 1 {
				t.Errorf("tick %s ran on %v, want once", tick.Format(time.TimeOnly), replicas)
			}
		}
		var claimed int
		if err := openTestDB(t, cfg).QueryRow(`SELECT COUNT(*) FROM job_runs WHERE job = 'every-second'`).Scan(&claimed); err != nil {
			t.Fatal(err)
		}
		if claimed != len(runs) || claimed < 2 {
			t.Errorf("%d ticks claimed in job_runs, %d ticks run; want the same, at least 2", claimed, len(runs))
		}
		for _, sched := range scheds {
			if st := sched.Stats()[0]; st.Failures != 0 {
				t.Errorf("failures: %+v", st)
			}
		}
	})
}

// TestCronTriggerIsNotClaimed checks that a run started by Trigger, an
// operator's "run now", runs whatever was claimed, on every replica.
func TestCronTriggerIsNotClaimed(t *testing.T) {
	s := testStore(t)
	ran := make(chan struct{}, 2)
	for range 2 {
		sched, err := flexcron.New(flexcron.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		body := func(context.Context) error { ran <- struct{}{}; return nil }
		if err := addJobs(sched, s, testLogger(), cronJob{"manual", "@every 1h", body}); err != nil {
			t.Fatal(err)
		}
		go sched.Run(context.Background())
		t.Cleanup(func() { sched.Halt(context.Background()) })
		<-sched.Ready()
		if err := sched.Trigger("manual"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ran:
		case <-time.After(waitTimeout):
			t.Fatal("a triggered run did not run")
		}
	}
}

func TestTickOf(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tt := range []struct {
		spec      string
		scheduled string
		want      string
	}{
		{"* * * * *", "2026-12-02T10:00:00Z", "2026-12-02T10:00:00Z"},
		{"*/5 * * * * *", "2026-12-02T10:00:05Z", "2026-12-02T10:00:05Z"},
		// @every counts from each replica's start: replicas started at
		// :17 and :43 share the minute.
		{"@every 1m", "2026-12-02T10:00:17Z", "2026-12-02T10:00:00Z"},
		{"@every 1m", "2026-12-02T10:00:43Z", "2026-12-02T10:00:00Z"},
		{"@every 1m", "2026-12-02T10:01:17Z", "2026-12-02T10:01:00Z"},
		{"@every 15m", "2026-12-02T10:29:59Z", "2026-12-02T10:15:00Z"},
		{" @every 90s ", "2026-12-02T10:02:59Z", "2026-12-02T10:01:30Z"},
	} {
		got := tickOf(at(tt.scheduled), everyPeriod(tt.spec))
		if !got.Equal(at(tt.want)) {
			t.Errorf("tickOf(%s, %q) = %s, want %s", tt.scheduled, tt.spec, got.UTC().Format(time.RFC3339), tt.want)
		}
	}
}
