package flexmetrics_test

import (
	"context"
	"errors"
	"log/slog"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexmetrics"
	"github.com/prometheus/client_golang/prometheus"
)

// sleeper is a worker whose Halt takes d and whose Run returns err unasked
// when exit is closed. A deaf one's Run ignores its context.
type sleeper struct {
	d    time.Duration
	err  error
	deaf bool
	exit chan struct{}
	stop chan struct{}
}

func newSleeper(d time.Duration) *sleeper {
	return &sleeper{d: d, exit: make(chan struct{}), stop: make(chan struct{})}
}

func (s *sleeper) Run(ctx context.Context) error {
	if s.deaf {
		ctx = context.Background()
	}
	select {
	case <-s.exit:
		return s.err
	case <-s.stop:
		return nil
	case <-ctx.Done():
		return nil
	}
}

func (s *sleeper) Halt(context.Context) error {
	time.Sleep(s.d)
	close(s.stop)
	return nil
}

// observeShutdown runs workers in a Service observed by a new Observer, calls
// trigger once every worker has started, and returns the metrics after
// Start has returned, with Start's error.
func observeShutdown(t *testing.T, opts []flex.Option, trigger func(cancel func()), workers ...flex.Worker) (map[string]float64, error) {
	t.Helper()
	reg := prometheus.NewRegistry()
	obs, err := flexmetrics.NewObserver(reg)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, len(workers))
	opts = append([]flex.Option{flex.WithLogger(slog.New(slog.DiscardHandler)), flex.WithSignals(), flex.WithShutdownDelay(0),
		flex.WithObserver(obs), flex.WithObserver(flex.ObserverFunc(func(e flex.Event) {
			if e.Kind == flex.EventWorkerStarted {
				started <- struct{}{}
			}
		}))}, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- flex.New(opts...).Start(ctx, workers...) }()
	for range workers {
		<-started
	}
	trigger(cancel)
	err = <-result
	mfs := gather(t, reg)
	got := map[string]float64{}
	for _, r := range []string{"signal", "context", "worker_stopped", "worker_failed"} {
		got["shutdowns_total/"+r] = mustSample(t, mfs, "flex_shutdowns_total", map[string]string{"reason": r})
	}
	got["deadline_exceeded_total"] = mustSample(t, mfs, "flex_shutdown_deadline_exceeded_total", nil)
	for _, p := range []string{"delay", "halt", "total"} {
		if v, ok := sample(mfs, "flex_shutdown_phase_seconds", map[string]string{"phase": p}); ok {
			got["phase/"+p] = v
		}
	}
	return got, err
}

func TestObserverRecordsTheShutdownTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		got, err := observeShutdown(t, []flex.Option{flex.WithShutdownDelay(2 * time.Second)}, func(cancel func()) { cancel() },
			newSleeper(time.Second), newSleeper(500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]float64{
			"shutdowns_total/signal": 0, "shutdowns_total/context": 1, "shutdowns_total/worker_stopped": 0,
			"shutdowns_total/worker_failed": 0, "deadline_exceeded_total": 0,
			"phase/delay": 2, "phase/halt": 1.5, "phase/total": 3.5,
		}
		equalMetrics(t, got, want)
	})
}

func TestObserverCountsShutdownsAtTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		failing, stuck := newSleeper(0), newSleeper(time.Hour)
		stuck.deaf = true
		failing.err = errors.New("broke")
		got, err := observeShutdown(t, []flex.Option{flex.WithShutdownTimeout(3 * time.Second)}, func(func()) { close(failing.exit) },
			stuck, failing)
		if !errors.Is(err, flex.ErrShutdownTimeout) {
			t.Fatalf("Start = %v, want ErrShutdownTimeout", err)
		}
		want := map[string]float64{
			"shutdowns_total/signal": 0, "shutdowns_total/context": 0, "shutdowns_total/worker_stopped": 0,
			"shutdowns_total/worker_failed": 1, "deadline_exceeded_total": 1,
			"phase/delay": 0, "phase/halt": 3, "phase/total": 3,
		}
		equalMetrics(t, got, want)
		time.Sleep(time.Hour) // stuck's Halt returns; the bubble ends
	})
}

func TestObserverNamesSignalAndStoppedWorkerShutdowns(t *testing.T) {
	got, err := observeShutdown(t, []flex.Option{flex.WithSignals(syscall.SIGUSR1)}, func(func()) {
		syscall.Kill(syscall.Getpid(), syscall.SIGUSR1)
	}, newSleeper(0))
	if err != nil {
		t.Fatal(err)
	}
	if got["shutdowns_total/signal"] != 1 {
		t.Errorf("after SIGUSR1: %v, want one signal shutdown", got)
	}
	synctest.Test(t, func(t *testing.T) {
		w := newSleeper(0)
		got, err := observeShutdown(t, nil, func(func()) { close(w.exit) }, w)
		if err != nil {
			t.Fatal(err)
		}
		if got["shutdowns_total/worker_stopped"] != 1 {
			t.Errorf("after a Run returned nil: %v, want one worker_stopped shutdown", got)
		}
	})
}

func equalMetrics(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s = %v (present: %v), want %v", k, g, ok, w)
		}
	}
}
