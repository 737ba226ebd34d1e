package flex_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/go-flexible/flexible/flex"
)

func TestFuncHaltCancelsItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errCustom := errors.New("custom")
		cleaned := false
		w := flex.Func(func(ctx context.Context) error {
			<-ctx.Done()
			cleaned = true
			return ctx.Err()
		})
		done := make(chan error, 1)
		go func() { done <- w.Run(context.Background()) }()
		synctest.Wait()
		if err := w.Halt(context.Background()); err != nil {
			t.Fatalf("Halt = %v", err)
		}
		if !cleaned {
			t.Error("Halt returned before Run did")
		}
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil: the cancellation was Halt's doing", err)
		}
		// An error that is not the cancellation is kept.
		w = flex.Func(func(ctx context.Context) error { <-ctx.Done(); return errCustom })
		go func() { done <- w.Run(context.Background()) }()
		synctest.Wait()
		w.Halt(context.Background())
		if err := <-done; !errors.Is(err, errCustom) {
			t.Errorf("Run = %v, want %v", err, errCustom)
		}
	})
}

func TestFromRunnerHaltDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		w := flex.FromRunner(&stubborn{release: release})
		go w.Run(context.Background())
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := w.Halt(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Halt = %v, want context.Canceled", err)
		}
		close(release)
	})
}

func TestFromRunnerRunsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		w := flex.Func(func(context.Context) error { calls++; return nil })
		w.Run(context.Background())
		w.Run(context.Background())
		if calls != 1 {
			t.Errorf("run %d times, want 1", calls)
		}
	})
}

func TestNames(t *testing.T) {
	var typedNil *probe
	for _, tc := range []struct {
		v    any
		want string
	}{
		{newProbe("by-stringer"), "by-stringer"},
		{flex.Named("explicit", newProbe("x")), "explicit"},
		{flex.Func(blockUntilDone), "flex_test.blockUntilDone"},
		{flex.RunFunc(nil), "flex.RunFunc"},
		{flex.FromRunner(newProbe("inner")), "inner"},
		{struct{ flex.Worker }{}, "struct { flex.Worker }"},
		{typedNil, "*flex_test.probe"},
	} {
		if got := flex.Name(tc.v); got != tc.want {
			t.Errorf("Name(%T) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestNamedKeepsReadierAndChecker(t *testing.T) {
	r := &readyProbe{probe: newProbe("r"), ready: make(chan struct{})}
	n := flex.Named("n", r).(flex.Readier)
	if isClosed(n.Ready()) {
		t.Error("Named reports ready before the worker")
	}
	close(r.ready)
	if !isClosed(n.Ready()) {
		t.Error("Named does not forward Ready")
	}
	errDown := errors.New("down")
	c := flex.Named("c", &checkerProbe{probe: newProbe("c"), err: errDown}).(flex.Checker)
	if err := c.Check(context.Background()); !errors.Is(err, errDown) {
		t.Errorf("Check = %v", err)
	}
	if err := flex.Named("p", newProbe("p")).(flex.Checker).Check(context.Background()); err != nil {
		t.Errorf("Check of a non-Checker = %v", err)
	}
}

func TestEventKindString(t *testing.T) {
	if got := flex.EventWorkerHalted.String(); got != "worker halted" {
		t.Errorf("got %q", got)
	}
	if got := flex.EventKind(99).String(); got != "unknown" {
		t.Errorf("got %q", got)
	}
}

func TestObserverFunc(t *testing.T) {
	var got flex.EventKind
	flex.ObserverFunc(func(e flex.Event) { got = e.Kind }).Observe(flex.Event{Kind: flex.EventStopped})
	if got != flex.EventStopped {
		t.Errorf("got %v", got)
	}
}
