package flexcron_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexcron"
)

var quiet = flexcron.WithLogger(slog.New(slog.DiscardHandler))

func newScheduler(t *testing.T, opts ...flexcron.Option) *flexcron.Scheduler {
	t.Helper()
	s, err := flexcron.New(append([]flexcron.Option{quiet}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func add(t *testing.T, s *flexcron.Scheduler, name, spec string, fn func(context.Context) error, opts ...flexcron.JobOption) {
	t.Helper()
	if err := s.Add(name, spec, fn, opts...); err != nil {
		t.Fatal(err)
	}
}

// start runs s and waits until it is ready; the returned channel receives
// Run's result.
func start(t *testing.T, s *flexcron.Scheduler) <-chan error {
	t.Helper()
	return startCtx(t, context.Background(), s)
}

func startCtx(t *testing.T, ctx context.Context, s *flexcron.Scheduler) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	return done
}

// stop halts s and checks that Halt and Run return nil.
func stop(t *testing.T, s *flexcron.Scheduler, done <-chan error) {
	t.Helper()
	if err := s.Halt(context.Background()); err != nil {
		t.Errorf("Halt: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func stats(t *testing.T, s *flexcron.Scheduler, name string) flexcron.JobStats {
	t.Helper()
	for _, st := range s.Stats() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no stats for job %q", name)
	return flexcron.JobStats{}
}

// never is a spec that does not come due during a test.
const never = "0 0 1 1 *"

// logBuffer is a slog handler target safe for concurrent writes and reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunsOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		var got []time.Time
		var mu sync.Mutex
		add(t, s, "tick", "@every 1s", func(ctx context.Context) error {
			at, ok := flexcron.ScheduledTime(ctx)
			if !ok || flexcron.JobName(ctx) != "tick" {
				t.Errorf("ScheduledTime = %v, %v; JobName = %q", at, ok, flexcron.JobName(ctx))
			}
			if now := time.Now(); !now.Equal(at) {
				t.Errorf("run started at %v, scheduled for %v", now, at)
			}
			mu.Lock()
			got = append(got, at)
			mu.Unlock()
			return nil
		})
		begin := time.Now()
		done := start(t, s)
		time.Sleep(3*time.Second + time.Millisecond)
		synctest.Wait()
		stop(t, s, done)
		if len(got) != 3 {
			t.Fatalf("runs = %v, want 3", got)
		}
		for i, at := range got {
			if want := begin.Add(time.Duration(i+1) * time.Second); !at.Equal(want) {
				t.Errorf("run %d scheduled at %v, want %v", i+1, at, want)
			}
		}
		if st := stats(t, s, "tick"); st.Runs != 3 || st.Failures != 0 || !st.Next.IsZero() {
			t.Errorf("stats after halt = %+v, want 3 runs, no failures, no next run", st)
		}
	})
}

func TestHaltWaitsForRunningJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		started, release := make(chan struct{}), make(chan struct{})
		var finished atomic.Bool
		add(t, s, "slow", "@every 1s", func(ctx context.Context) error {
			close(started)
			<-release
			finished.Store(true)
			return nil
		})
		done := start(t, s)
		<-started
		halted := make(chan error, 1)
		go func() { halted <- s.Halt(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-halted:
			t.Fatalf("Halt returned %v while the job was running", err)
		case err := <-done:
			t.Fatalf("Run returned %v while the job was running", err)
		default:
		}
		time.Sleep(time.Minute) // no new run starts once halting
		close(release)
		if err := <-halted; err != nil {
			t.Errorf("Halt: %v", err)
		}
		if !finished.Load() {
			t.Error("Halt returned before the job did")
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestHaltCancelsJobBeforeDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t, flexcron.WithHaltMargin(2*time.Second))
		started := make(chan struct{})
		var cancelledAt time.Time
		add(t, s, "long", "@every 1s", func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			cancelledAt = time.Now()
			return ctx.Err()
		})
		done := start(t, s)
		<-started
		haltAt := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Halt(ctx); err != nil {
			t.Errorf("Halt: %v, want nil: the job returned once cancelled", err)
		}
		if got, want := cancelledAt.Sub(haltAt), 8*time.Second; got != want {
			t.Errorf("job context cancelled %v after Halt, want %v (deadline minus margin)", got, want)
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if st := stats(t, s, "long"); !errors.Is(st.LastError, context.Canceled) {
			t.Errorf("LastError = %v, want context.Canceled", st.LastError)
		}
	})
}

func TestHaltDeadlinePassesNamesJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		release := make(chan struct{})
		started := make(chan struct{}, 2)
		stubborn := func(context.Context) error { started <- struct{}{}; <-release; return nil }
		add(t, s, "b-stubborn", never, stubborn)
		add(t, s, "a-stubborn", never, stubborn)
		add(t, s, "idle", never, func(context.Context) error { return nil })
		done := start(t, s)
		for _, name := range []string{"a-stubborn", "b-stubborn"} {
			if err := s.Trigger(name); err != nil {
				t.Fatal(err)
			}
			<-started
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.Halt(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Halt = %v, want it to wrap context.DeadlineExceeded", err)
		}
		if err == nil || !strings.Contains(err.Error(), `jobs still running: "a-stubborn", "b-stubborn"`) {
			t.Errorf("Halt = %v, want it to name the running jobs", err)
		}
		if err := <-done; err != nil { // Run returns once Halt gives up
			t.Errorf("Run: %v", err)
		}
		close(release)
	})
}

func TestHaltWithCancelledContextReturnsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		started, release := make(chan struct{}), make(chan struct{})
		var jobCtxErr error
		add(t, s, "stuck", never, func(ctx context.Context) error {
			close(started)
			<-release
			jobCtxErr = ctx.Err()
			return nil
		})
		done := start(t, s)
		if err := s.Trigger("stuck"); err != nil {
			t.Fatal(err)
		}
		<-started
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Halt(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Halt = %v, want context.Canceled", err)
		}
		<-done
		close(release)
		// A second Halt waits for the job, which now returns.
		if err := s.Halt(context.Background()); err != nil {
			t.Errorf("second Halt: %v", err)
		}
		if !errors.Is(jobCtxErr, context.Canceled) {
			t.Errorf("job context error = %v, want context.Canceled", jobCtxErr)
		}
	})
}

func TestCancelRunContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		started := make(chan struct{})
		jobDone := make(chan error)
		type key struct{}
		add(t, s, "watch", never, func(ctx context.Context) error {
			if ctx.Value(key{}) != "run" {
				t.Error("job context lacks the values of Run's context")
			}
			close(started)
			<-ctx.Done()
			jobDone <- ctx.Err()
			return nil
		})
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "run"))
		done := startCtx(t, ctx, s)
		if err := s.Trigger("watch"); err != nil {
			t.Fatal(err)
		}
		<-started
		cancel()
		if err := <-jobDone; !errors.Is(err, context.Canceled) {
			t.Errorf("job context error = %v, want context.Canceled", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		if err := s.Trigger("watch"); !errors.Is(err, flexcron.ErrHalted) {
			t.Errorf("Trigger after Run's context was cancelled = %v, want ErrHalted", err)
		}
		if err := s.Halt(context.Background()); err != nil {
			t.Errorf("Halt: %v", err)
		}
	})
}

func TestSkipIfRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		release := make(chan struct{})
		var runs atomic.Int32
		add(t, s, "sync", "@every 1s", func(context.Context) error {
			runs.Add(1)
			<-release
			return nil
		})
		done := start(t, s)
		time.Sleep(5*time.Second + time.Millisecond) // due 5 times, the first still running
		synctest.Wait()
		if err := s.Trigger("sync"); !errors.Is(err, flexcron.ErrJobRunning) {
			t.Errorf("Trigger while running = %v, want ErrJobRunning", err)
		}
		st := stats(t, s, "sync")
		if runs.Load() != 1 || st.Skipped != 5 || st.Running != 1 {
			t.Errorf("runs = %d, stats = %+v; want 1 run, 5 skipped, 1 running", runs.Load(), st)
		}
		close(release)
		stop(t, s, done)
	})
}

func TestDelayIfRunningQueuesAtMostOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		release := make(chan struct{})
		var scheduled []time.Time
		var mu sync.Mutex
		add(t, s, "report", "@every 1s", func(ctx context.Context) error {
			at, _ := flexcron.ScheduledTime(ctx)
			mu.Lock()
			first := len(scheduled) == 0
			scheduled = append(scheduled, at)
			mu.Unlock()
			if first {
				<-release
			}
			return nil
		}, flexcron.DelayIfRunning())
		begin := time.Now()
		done := start(t, s)
		time.Sleep(10*time.Second + time.Millisecond) // due 10 times, the first still running
		synctest.Wait()
		st := stats(t, s, "report")
		if st.Delayed != 1 || st.Skipped != 8 || st.Running != 1 {
			t.Errorf("stats while the first run blocks = %+v, want 1 delayed, 8 skipped, 1 running", st)
		}
		close(release)
		synctest.Wait()
		mu.Lock()
		got := append([]time.Time(nil), scheduled...)
		mu.Unlock()
		// The delayed run starts as soon as the first returns and keeps the
		// time it was due.
		if len(got) != 2 || !got[1].Equal(begin.Add(2*time.Second)) {
			t.Errorf("runs scheduled at %v, want 2 runs, the second due at %v", got, begin.Add(2*time.Second))
		}
		stop(t, s, done)
	})
}

func TestDelayedRunDroppedOnHalt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		started, release := make(chan struct{}, 2), make(chan struct{})
		add(t, s, "report", never, func(context.Context) error {
			started <- struct{}{}
			<-release
			return nil
		}, flexcron.DelayIfRunning())
		done := start(t, s)
		if err := s.Trigger("report"); err != nil {
			t.Fatal(err)
		}
		<-started
		if err := s.Trigger("report"); err != nil {
			t.Errorf("second Trigger = %v, want nil (queued)", err)
		}
		if err := s.Trigger("report"); !errors.Is(err, flexcron.ErrJobRunning) {
			t.Errorf("third Trigger = %v, want ErrJobRunning", err)
		}
		halted := make(chan error, 1)
		go func() { halted <- s.Halt(context.Background()) }()
		synctest.Wait()
		close(release)
		if err := <-halted; err != nil {
			t.Errorf("Halt: %v", err)
		}
		<-done
		if st := stats(t, s, "report"); st.Runs != 1 || st.Skipped != 2 {
			t.Errorf("stats = %+v, want 1 run and 2 skipped (one refused, one dropped at halt)", st)
		}
	})
}

func TestAllowOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		release := make(chan struct{})
		add(t, s, "fanout", never, func(context.Context) error { <-release; return nil }, flexcron.AllowOverlap())
		done := start(t, s)
		for i := range 3 {
			if err := s.Trigger("fanout"); err != nil {
				t.Errorf("Trigger %d: %v", i+1, err)
			}
		}
		synctest.Wait()
		if st := stats(t, s, "fanout"); st.Running != 3 {
			t.Errorf("Running = %d, want 3", st.Running)
		}
		close(release)
		stop(t, s, done)
		if st := stats(t, s, "fanout"); st.Runs != 3 || st.Running != 0 {
			t.Errorf("stats = %+v, want 3 runs, none running", st)
		}
	})
}

func TestPanicIsRecovered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs logBuffer
		s := newScheduler(t, flexcron.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
		var calls atomic.Int32
		add(t, s, "boom", "@every 1s", func(context.Context) error {
			if calls.Add(1) == 1 {
				panic("kaboom")
			}
			return nil
		})
		done := start(t, s)
		time.Sleep(2*time.Second + time.Millisecond)
		synctest.Wait()
		stop(t, s, done)
		st := stats(t, s, "boom")
		if st.Runs != 2 || st.Panics != 1 || st.Failures != 1 {
			t.Errorf("stats = %+v, want 2 runs, 1 panic, 1 failure", st)
		}
		if calls.Load() != 2 || st.LastError != nil {
			t.Errorf("calls = %d, last error %v: the scheduler should keep running after a panic", calls.Load(), st.LastError)
		}
		out := logs.String()
		if !strings.Contains(out, `"msg":"flexcron: job panicked"`) || !strings.Contains(out, `"panic":"kaboom"`) ||
			!strings.Contains(out, "goroutine ") || !strings.Contains(out, "scheduler_test.go") {
			t.Errorf("log lacks the panic and its stack:\n%s", out)
		}
	})
}

func TestPanicError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		add(t, s, "boom", never, func(context.Context) error { panic(context.DeadlineExceeded) })
		done := start(t, s)
		if err := s.Trigger("boom"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		stop(t, s, done)
		var pe *flex.PanicError
		err := stats(t, s, "boom").LastError
		if !errors.As(err, &pe) || pe.Worker != "cron(boom)" || pe.Op != `job "boom"` || len(pe.Stack) == 0 {
			t.Fatalf("LastError = %#v, want a *flex.PanicError for job boom of cron(boom) with a stack", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("errors.Is(%v, DeadlineExceeded) = false, want the panic value reachable", err)
		}
		if want := `flex: cron(boom) job "boom" panicked: context deadline exceeded`; err.Error() != want {
			t.Errorf("Error() = %q, want %q", err.Error(), want)
		}
	})
}

func TestEachRunIsLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs logBuffer
		s := newScheduler(t, flexcron.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		add(t, s, "ok", never, func(context.Context) error { time.Sleep(time.Second); return nil })
		add(t, s, "bad", never, func(context.Context) error { return errors.New("disk full") })
		done := start(t, s)
		for _, name := range []string{"ok", "bad"} {
			if err := s.Trigger(name); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		stop(t, s, done)
		out := logs.String()
		for _, want := range []string{
			`level=INFO msg="flexcron: job done" job=ok scheduled=2000-01-01T00:00:00.000Z trigger=true duration=1s`,
			`level=ERROR msg="flexcron: job failed" job=bad scheduled=2000-01-01T00:00:00.000Z trigger=true duration=0s error="disk full"`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %q:\n%s", want, out)
			}
		}
	})
}

func TestTimeZones(t *testing.T) {
	// The synctest clock starts at 2000-01-01 00:00:00 UTC.
	tests := []struct {
		name string
		env  string
		opts []flexcron.Option
		spec string
		want time.Time
	}{
		{"CRON_TZ prefix", "", nil, "CRON_TZ=Asia/Tokyo 0 10 * * *", time.Date(2000, 1, 1, 1, 0, 0, 0, time.UTC)},
		{"TZ prefix", "", nil, "TZ=Asia/Kolkata 30 6 * * *", time.Date(2000, 1, 1, 1, 0, 0, 0, time.UTC)},
		{"WithLocation", "", []flexcron.Option{flexcron.WithLocation(mustLoad(t, "America/New_York"))}, "30 19 * * *", time.Date(2000, 1, 1, 0, 30, 0, 0, time.UTC)},
		{"FLEX_CRON_TZ", "Asia/Tokyo", nil, "0 10 * * *", time.Date(2000, 1, 1, 1, 0, 0, 0, time.UTC)},
		{"WithLocation over FLEX_CRON_TZ", "Asia/Tokyo", []flexcron.Option{flexcron.WithLocation(time.UTC)}, "0 10 * * *", time.Date(2000, 1, 1, 10, 0, 0, 0, time.UTC)},
		{"prefix over WithLocation", "", []flexcron.Option{flexcron.WithLocation(time.UTC)}, "CRON_TZ=Asia/Tokyo 0 10 * * *", time.Date(2000, 1, 1, 1, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(flexcron.EnvTZ, tt.env)
			synctest.Test(t, func(t *testing.T) {
				s := newScheduler(t, tt.opts...)
				ran := make(chan time.Time, 1)
				add(t, s, "zoned", tt.spec, func(context.Context) error { ran <- time.Now(); return nil })
				done := start(t, s)
				synctest.Wait()
				if got := stats(t, s, "zoned").Next; !got.Equal(tt.want) {
					t.Errorf("Next = %v, want %v", got, tt.want)
				}
				if got := <-ran; !got.Equal(tt.want) {
					t.Errorf("ran at %v, want %v", got.UTC(), tt.want)
				}
				stop(t, s, done)
			})
		})
	}
}

func TestTrigger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		ran := make(chan time.Time, 1)
		add(t, s, "now", never, func(ctx context.Context) error {
			at, _ := flexcron.ScheduledTime(ctx)
			ran <- at
			return nil
		})
		if err := s.Trigger("now"); !errors.Is(err, flexcron.ErrNotRunning) {
			t.Errorf("Trigger before Run = %v, want ErrNotRunning", err)
		}
		done := start(t, s)
		time.Sleep(time.Hour)
		if err := s.Trigger("nope"); !errors.Is(err, flexcron.ErrUnknownJob) || !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("Trigger of an unknown job = %v, want ErrUnknownJob naming it", err)
		}
		want := time.Now()
		if err := s.Trigger("now"); err != nil {
			t.Fatalf("Trigger: %v", err)
		}
		if got := <-ran; !got.Equal(want) {
			t.Errorf("triggered run scheduled at %v, want %v", got, want)
		}
		stop(t, s, done)
		if err := s.Trigger("now"); !errors.Is(err, flexcron.ErrHalted) {
			t.Errorf("Trigger after Halt = %v, want ErrHalted", err)
		}
	})
}

func TestStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		fail := errors.New("upstream down")
		var calls atomic.Int32
		add(t, s, "etl", "@every 10s", func(context.Context) error {
			time.Sleep(3 * time.Second)
			if calls.Add(1) == 2 {
				return fail
			}
			return nil
		})
		add(t, s, "idle", "@daily", func(context.Context) error { return nil })
		begin := time.Now()
		done := start(t, s)
		synctest.Wait()
		all := s.Stats()
		if len(all) != 2 || all[0].Name != "etl" || all[1].Name != "idle" || all[1].Spec != "@daily" {
			t.Fatalf("Stats = %+v, want etl then idle", all)
		}
		if want := begin.Add(24 * time.Hour); !all[1].Next.Equal(want) {
			t.Errorf("idle Next = %v, want %v", all[1].Next, want)
		}
		time.Sleep(25 * time.Second) // runs at 10s and 20s, each 3s long
		st := stats(t, s, "etl")
		if st.Runs != 2 || st.Failures != 1 || !errors.Is(st.LastError, fail) || st.LastDuration != 3*time.Second ||
			!st.LastStart.Equal(begin.Add(20*time.Second)) || !st.Next.Equal(begin.Add(30*time.Second)) {
			t.Errorf("etl stats = %+v", st)
		}
		time.Sleep(10 * time.Second)
		if st := stats(t, s, "etl"); st.Runs != 3 || st.LastError != nil {
			t.Errorf("after a good run: %+v, want 3 runs and LastError nil", st)
		}
		stop(t, s, done)
	})
}

func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		var took time.Duration
		add(t, s, "bounded", never, func(ctx context.Context) error {
			begin := time.Now()
			<-ctx.Done()
			took = time.Since(begin)
			return ctx.Err()
		}, flexcron.Timeout(5*time.Second))
		done := start(t, s)
		if err := s.Trigger("bounded"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		stop(t, s, done)
		if took != 5*time.Second || !errors.Is(stats(t, s, "bounded").LastError, context.DeadlineExceeded) {
			t.Errorf("run took %v with error %v, want 5s and DeadlineExceeded", took, stats(t, s, "bounded").LastError)
		}
	})
}

func TestAddWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		done := start(t, s)
		ran := make(chan struct{}, 1)
		add(t, s, "late", "@every 1s", func(context.Context) error {
			select {
			case ran <- struct{}{}:
			default:
			}
			return nil
		})
		<-ran
		stop(t, s, done)
		if err := s.Add("later", "@every 1s", func(context.Context) error { return nil }); !errors.Is(err, flexcron.ErrHalted) {
			t.Errorf("Add after Halt = %v, want ErrHalted", err)
		}
	})
}

func TestRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		done := start(t, s)
		if err := s.Run(context.Background()); !errors.Is(err, flexcron.ErrAlreadyRunning) {
			t.Errorf("second Run = %v, want ErrAlreadyRunning", err)
		}
		stop(t, s, done)
		if err := s.Run(context.Background()); err != nil {
			t.Errorf("Run after Halt = %v, want nil", err)
		}
		if got := s.String(); got != "cron()" {
			t.Errorf("String() of a Scheduler without jobs = %q, want cron()", got)
		}
	})
}

func TestNeverDueJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs logBuffer
		s := newScheduler(t, flexcron.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		add(t, s, "feb30", "0 0 30 2 *", func(context.Context) error { return nil })
		done := start(t, s)
		synctest.Wait()
		if st := stats(t, s, "feb30"); !st.Next.IsZero() {
			t.Errorf("Next = %v, want zero", st.Next)
		}
		if !strings.Contains(logs.String(), "will never run again") {
			t.Errorf("no warning about a job that never runs:\n%s", logs.String())
		}
		stop(t, s, done)
	})
}

func TestAddInvalid(t *testing.T) {
	s := newScheduler(t)
	ok := func(context.Context) error { return nil }
	add(t, s, "report", "@daily", ok)
	tests := []struct {
		name, spec string
		fn         func(context.Context) error
		opts       []flexcron.JobOption
		want       string
	}{
		{"report", "* * *", ok, nil, `flexcron: job "report": invalid spec "* * *": expected 5 to 6 fields, found 3: [* * *]`},
		{"cleanup", "CRON_TZ=Nowhere/Land 0 3 * * *", ok, nil, `flexcron: job "cleanup": invalid spec "CRON_TZ=Nowhere/Land 0 3 * * *": provided bad location Nowhere/Land`},
		{"", "@daily", ok, nil, `flexcron: job with spec "@daily": empty name`},
		{"nil", "@daily", nil, nil, `flexcron: job "nil": nil func`},
		{"report", "@hourly", ok, nil, `flexcron: job "report": already added`},
		{"neg", "@hourly", ok, []flexcron.JobOption{flexcron.Timeout(-time.Second)}, `flexcron: job "neg": invalid Timeout -1s: must not be negative`},
	}
	for _, tt := range tests {
		err := s.Add(tt.name, tt.spec, tt.fn, tt.opts...)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Add(%q, %q) = %v, want %q", tt.name, tt.spec, err, tt.want)
		}
	}
	if n := len(s.Stats()); n != 1 {
		t.Errorf("%d jobs registered, want 1: invalid jobs must not be added", n)
	}
}

func TestNewInvalid(t *testing.T) {
	t.Setenv(flexcron.EnvTZ, "Mars/Olympus")
	if _, err := flexcron.New(); err == nil || err.Error() != `flexcron: invalid FLEX_CRON_TZ "Mars/Olympus": unknown time zone` {
		t.Errorf("New with a bad FLEX_CRON_TZ = %v", err)
	}
	t.Setenv(flexcron.EnvTZ, "")
	if _, err := flexcron.New(flexcron.WithHaltMargin(-time.Second)); err == nil || !strings.Contains(err.Error(), `invalid WithHaltMargin "-1s": must not be negative`) {
		t.Errorf("New with a negative margin = %v", err)
	}
}
