package flex_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-flexible/flexible/flex"
)

// The tests in this file check how the workers share FLEX_SHUTDOWN_TIMEOUT.

// grace is how long before the end of its share a Halt's context is done,
// so that a Halt giving up at its deadline can say how it ended: 100ms, or
// a quarter of the reserve when that is shorter.
const grace = 100 * time.Millisecond

// sleepyHalter needs d to halt, and honours its context while it waits.
type sleepyHalter struct {
	*probe
	d       time.Duration
	leftAt  time.Duration // time left on Halt's context when Halt was called
	errDone error         // Halt's context error once its work was done
}

func (s *sleepyHalter) Halt(ctx context.Context) error {
	deadline, _ := ctx.Deadline()
	s.leftAt = time.Until(deadline)
	select {
	case <-time.After(s.d):
	case <-ctx.Done():
		return ctx.Err()
	}
	s.errDone = ctx.Err()
	return s.probe.Halt(ctx)
}

func TestSlowHaltCannotStarveLaterWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		careless := flex.Named("careless", &stubborn{release: release}) // halted first, ignores its context
		needy := &sleepyHalter{probe: newProbe("needy"), d: 200 * time.Millisecond}
		events := newEventLog()
		ctx, cancel := context.WithCancel(context.Background())
		svc := flex.New(quiet(nil, flex.WithShutdownTimeout(2*time.Second), flex.WithObserver(events))...)
		result := startAsync(ctx, svc, needy, careless)
		<-needy.started
		cancel()
		err := <-result

		if needy.leftAt < needy.d {
			t.Errorf("the second worker's Halt got %v, want at least the %v it needs", needy.leftAt, needy.d)
		}
		if needy.errDone != nil {
			t.Errorf("the second worker's context was done before its Halt finished: %v", needy.errDone)
		}
		halted := haltedEvents(events)
		if e, ok := halted["needy"]; !ok || e.Err != nil {
			t.Errorf("needy: halted event %+v (seen %v), want one without error", e, ok)
		}
		if e, ok := halted["careless"]; !ok || e.Err == nil {
			t.Errorf("careless: halted event %+v (seen %v), want one with its deadline error", e, ok)
		}
		if !errors.Is(err, flex.ErrShutdownTimeout) || !strings.Contains(err.Error(), "still running: careless") {
			t.Errorf("Start = %v, want ErrShutdownTimeout naming careless only", err)
		}
		if strings.Contains(err.Error(), "needy") {
			t.Errorf("Start = %v, which blames the worker that halted in time", err)
		}
	})
}

func haltedEvents(l *eventLog) map[string]flex.Event {
	out := map[string]flex.Event{}
	for _, e := range l.all() {
		if e.Kind == flex.EventWorkerHalted {
			out[e.Worker] = e
		}
	}
	return out
}

func TestHaltingEventCarriesTheShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, c, d := newProbe("a"), newProbe("b"), newProbe("c"), newProbe("d")
		events := newEventLog()
		ctx, cancel := context.WithCancel(context.Background())
		result := startAsync(ctx, flex.New(quiet(nil, flex.WithObserver(events))...), a, b, c, d)
		<-a.started
		cancel()
		began := time.Now()
		if err := <-result; err != nil {
			t.Fatal(err)
		}
		// The documented default: 20s shared by four, 2.5s kept back for
		// each worker after the one halting.
		want := map[string]time.Duration{"d": 12500 * time.Millisecond, "c": 15 * time.Second, "b": 17500 * time.Millisecond, "a": 20 * time.Second}
		for _, e := range events.all() {
			if e.Kind != flex.EventWorkerHalting {
				continue
			}
			if got := e.Deadline.Sub(began); got != want[e.Worker]-grace {
				t.Errorf("%s: share ends %v after shutdown began, want %v", e.Worker, got, want[e.Worker])
			}
			delete(want, e.Worker)
		}
		if len(want) != 0 {
			t.Errorf("no halting event for %v", want)
		}
	})
}

func TestReserveFromEnvironmentAndOption(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  string
		opts []flex.Option
		want time.Duration // the first halted worker's share of 10s, of two
	}{
		{name: "default", want: 7500 * time.Millisecond},
		{name: "env", env: "1s", want: 9 * time.Second},
		{name: "option beats env", env: "1s", opts: []flex.Option{flex.WithShutdownReserve(4 * time.Second)}, want: 6 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv(flex.EnvShutdownReserve, tc.env)
			}
			synctest.Test(t, func(t *testing.T) {
				a, b := newProbe("a"), newProbe("b")
				ctx, cancel := context.WithCancel(context.Background())
				opts := append(quiet(nil, flex.WithShutdownTimeout(10*time.Second)), tc.opts...)
				result := startAsync(ctx, flex.New(opts...), a, b)
				<-b.started
				cancel()
				began := time.Now()
				if err := <-result; err != nil {
					t.Fatal(err)
				}
				if d, _ := b.haltContext().Deadline(); d.Sub(began) != tc.want-grace {
					t.Errorf("first halted worker's share: %v, want %v", d.Sub(began), tc.want)
				}
			})
		})
	}
}

// lateRunner's Run returns a little after its Halt's context is done, as a
// server does once it has closed the connections left at its deadline.
type lateRunner struct {
	*probe
	late time.Duration
}

func (l *lateRunner) Run(context.Context) error {
	close(l.started)
	defer close(l.done)
	<-l.stop // not ctx: Start cancels it when Halt returns
	return nil
}

func (l *lateRunner) Halt(ctx context.Context) error {
	<-ctx.Done()
	go func() {
		time.Sleep(l.late)
		close(l.stop)
	}()
	return ctx.Err()
}

func TestWorkerReturningAfterItsShareIsNotStillRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		late := &lateRunner{probe: newProbe("late"), late: 500 * time.Millisecond}
		quick := newProbe("quick")
		ctx, cancel := context.WithCancel(context.Background())
		// 4s for two: late's share ends at 3s, its Run returns at 3.5s.
		result := startAsync(ctx, flex.New(quiet(nil, flex.WithShutdownTimeout(4*time.Second))...), quick, late)
		<-late.started
		cancel()
		err := <-result
		if errors.Is(err, flex.ErrShutdownTimeout) {
			t.Errorf("Start = %v, but every Run returned before the deadline", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Start = %v, want late's Halt error (its share ended)", err)
		}
		if !isClosed(quick.done) || !isClosed(late.done) {
			t.Error("Start returned before every Run had returned")
		}
	})
}

// slowObserver blocks on the first halted event, as a logger writing to a
// stalled pipe would, until the shutdown deadline has passed.
func TestHaltsAfterTheDeadlineAreReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, c := newProbe("a"), newProbe("b"), newProbe("c")
		events := newEventLog()
		var once bool
		stall := flex.ObserverFunc(func(e flex.Event) {
			if e.Kind == flex.EventWorkerHalted && !once {
				once = true
				time.Sleep(time.Minute)
			}
		})
		ctx, cancel := context.WithCancel(context.Background())
		svc := flex.New(quiet(nil, flex.WithShutdownTimeout(3*time.Second), flex.WithObserver(events), flex.WithObserver(stall))...)
		result := startAsync(ctx, svc, a, b, c)
		<-a.started
		cancel()
		err := <-result

		var halting []string
		for _, e := range events.all() {
			if e.Kind == flex.EventWorkerHalting {
				halting = append(halting, e.Worker)
			}
		}
		if got, want := strings.Join(halting, ","), "c,b,a"; got != want {
			t.Errorf("halting events for %s, want %s", got, want)
		}
		halted := haltedEvents(events)
		for _, name := range []string{"b", "a"} {
			if e, ok := halted[name]; !ok || !errors.Is(e.Err, context.DeadlineExceeded) {
				t.Errorf("%s, halted after the deadline: event %+v (seen %v), want its deadline error", name, e, ok)
			}
		}
		if !strings.Contains(err.Error(), "flex: b halt") || !strings.Contains(err.Error(), "flex: a halt") {
			t.Errorf("Start = %v, want the errors of the halts after the deadline", err)
		}
	})
}

// givingUp halts by abandoning its work when its context is done, which
// takes it 10ms (closing connections, say), and reports that it did so
// cleanly.
type givingUp struct{ *probe }

func (g *givingUp) Halt(ctx context.Context) error {
	<-ctx.Done()
	time.Sleep(10 * time.Millisecond)
	close(g.stop)
	return nil
}

func TestHaltGivingUpAtItsDeadlineReportsItsOwnResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &givingUp{newProbe("server")}
		after := newProbe("after")
		events := newEventLog()
		ctx, cancel := context.WithCancel(context.Background())
		result := startAsync(ctx, flex.New(quiet(nil, flex.WithShutdownTimeout(2*time.Second), flex.WithObserver(events))...), after, g)
		<-g.started
		cancel()
		if err := <-result; err != nil {
			t.Errorf("Start = %v, want nil: the Halt that gave up at its deadline said it ended cleanly", err)
		}
		if e := haltedEvents(events)["server"]; e.Err != nil {
			t.Errorf("server's halted event carries %v, want its own nil", e.Err)
		}
	})
}
