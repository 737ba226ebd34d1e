package flex_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-flexible/flexible/flex"
)

func TestStartStopsWhenContextIsDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newProbe("a"), newProbe("b")
		ctx, cancel := context.WithCancel(context.Background())
		result := startAsync(ctx, flex.New(quiet(nil)...), a, b)
		<-a.started
		<-b.started
		cancel()
		if err := <-result; err != nil {
			t.Fatalf("Start = %v, want nil after a clean shutdown", err)
		}
		for _, p := range []*probe{a, b} {
			if !isClosed(p.halting) || !isClosed(p.done) {
				t.Errorf("%s: halted %v, run returned %v; want both", p.name, isClosed(p.halting), isClosed(p.done))
			}
		}
	})
}

func TestStartStopsWhenAWorkerReturns(t *testing.T) {
	for _, runErr := range []error{nil, errors.New("boom")} {
		t.Run(fmt.Sprint(runErr), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := newProbe("a"), newProbe("b")
				b.runErr = runErr
				result := startAsync(context.Background(), flex.New(quiet(nil)...), a, b)
				<-a.started
				close(b.exit)
				err := <-result
				if !errors.Is(err, runErr) || (runErr == nil) != (err == nil) {
					t.Fatalf("Start = %v, want %v", err, runErr)
				}
				if !isClosed(a.halting) || !isClosed(a.done) {
					t.Error("the other worker was not halted")
				}
			})
		})
	}
}

func TestStartStopsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			a := newProbe("a")
			events := newEventLog()
			svc := flex.New(quiet(nil, flex.WithSignals(syscall.SIGINT, syscall.SIGTERM), flex.WithObserver(events))...)
			started := events.next(flex.EventWorkerStarted)
			result := startAsync(context.Background(), svc, a)
			<-started // signal.Notify is in place before any worker starts
			if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			if err := <-result; err != nil {
				t.Fatalf("Start = %v, want nil", err)
			}
			if !isClosed(a.done) {
				t.Error("Run had not returned when Start returned")
			}
			if got := shutdownReason(events); !strings.Contains(got, sig.String()) {
				t.Errorf("shutdown reason %q does not name %v", got, sig)
			}
		})
	}
}

func shutdownReason(l *eventLog) string {
	for _, e := range l.all() {
		if e.Kind == flex.EventShutdown {
			return e.Reason
		}
	}
	return ""
}

type ctxKey struct{}

func TestHaltGetsALiveBoundedContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newProbe("a")
		var errAtHalt error
		var deadline time.Time
		var value any
		a.onHalt = func(ctx context.Context) error {
			errAtHalt = ctx.Err()
			deadline, _ = ctx.Deadline()
			value = ctx.Value(ctxKey{})
			close(a.stop)
			return nil
		}
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
		result := startAsync(ctx, flex.New(quiet(nil, flex.WithShutdownTimeout(7*time.Second))...), a)
		<-a.started
		cancel()
		began := time.Now()
		if err := <-result; err != nil {
			t.Fatal(err)
		}
		if errAtHalt != nil {
			t.Errorf("Halt's context was already done: %v", errAtHalt)
		}
		if got, want := deadline.Sub(began), 7*time.Second-grace; got != want {
			t.Errorf("Halt's deadline is %v after shutdown, want %v", got, want)
		}
		if value != "v" {
			t.Errorf("Halt's context lost the caller's values: got %v", value)
		}
	})
}

func TestRunContextOutlivesCallerUntilHalted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newProbe("a")
		var runErrAtHalt error
		a.onHalt = func(ctx context.Context) error {
			a.mu.Lock()
			runErrAtHalt = a.runCtx.Err()
			a.mu.Unlock()
			close(a.stop)
			return nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		result := startAsync(ctx, flex.New(quiet(nil)...), a)
		<-a.started
		cancel()
		if err := <-result; err != nil {
			t.Fatal(err)
		}
		if runErrAtHalt != nil {
			t.Errorf("Run's context was cancelled before Halt: %v", runErrAtHalt)
		}
	})
}

func TestHaltIsOrderedInReverse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var order []string
		probes := []*probe{newProbe("first"), newProbe("second"), newProbe("third")}
		workers := make([]flex.Worker, len(probes))
		for i, p := range probes {
			workers[i] = p
			p.onHalt = func(ctx context.Context) error {
				// Every worker registered after p must be gone already.
				for _, later := range probes[i+1:] {
					if !isClosed(later.done) {
						t.Errorf("%s halted while %s was still running", p.name, later.name)
					}
				}
				order = append(order, p.name)
				time.Sleep(time.Second) // fake time: shows the deadline is shared
				close(p.stop)
				return nil
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		result := startAsync(ctx, flex.New(quiet(nil, flex.WithShutdownTimeout(12*time.Second))...), workers...)
		for _, p := range probes {
			<-p.started
		}
		cancel()
		began := time.Now()
		if err := <-result; err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(order, ","), "third,second,first"; got != want {
			t.Errorf("halt order %s, want %s", got, want)
		}
		// One shared 12s timeout; 12s/(2×3) = 2s kept back for each worker
		// still to halt, and each deadline counted from the same start.
		for i, want := range []time.Duration{12 * time.Second, 10 * time.Second, 8 * time.Second} {
			d, _ := probes[i].haltContext().Deadline()
			if got := d.Sub(began); got != want-grace {
				t.Errorf("%s's Halt deadline is %v after shutdown began, want %v", probes[i].name, got, want)
			}
		}
	})
}

func TestShutdownDelayKeepsServingWhileNotReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newProbe("a")
		events := newEventLog()
		svc := flex.New(quiet(nil, flex.WithShutdownDelay(3*time.Second), flex.WithObserver(events))...)
		ctx, cancel := context.WithCancel(context.Background())
		result := startAsync(ctx, svc, a)
		<-a.started
		synctest.Wait()
		if !svc.Health().Ready(context.Background()) {
			t.Fatal("not ready while running")
		}
		shutdown := events.next(flex.EventShutdown)
		cancel()
		<-shutdown
		triggered := time.Now()
		if svc.Health().Ready(context.Background()) {
			t.Error("still ready after shutdown was triggered")
		}
		if isClosed(a.halting) {
			t.Error("halted before the delay")
		}
		<-a.halting
		if got := time.Since(triggered); got != 3*time.Second {
			t.Errorf("halting began %v after the trigger, want 3s", got)
		}
		<-result
	})
}

func TestDefaultShutdownDelay(t *testing.T) {
	for _, tc := range []struct {
		k8s  string
		want time.Duration
	}{{"", 0}, {"10.0.0.1", flex.DefaultKubernetesShutdownDelay}} {
		t.Run("KUBERNETES_SERVICE_HOST="+tc.k8s, func(t *testing.T) {
			t.Setenv("KUBERNETES_SERVICE_HOST", tc.k8s)
			t.Setenv(flex.EnvShutdownDelay, "")
			synctest.Test(t, func(t *testing.T) {
				a := newProbe("a")
				events := newEventLog()
				svc := flex.New(flex.WithLogger(discard()), flex.WithSignals(), flex.WithObserver(events))
				ctx, cancel := context.WithCancel(context.Background())
				result := startAsync(ctx, svc, a)
				<-a.started
				shutdown := events.next(flex.EventShutdown)
				cancel()
				<-shutdown
				triggered := time.Now()
				<-a.halting
				if got := time.Since(triggered); got != tc.want {
					t.Errorf("delay %v, want %v", got, tc.want)
				}
				<-result
			})
		})
	}
	if total := flex.DefaultKubernetesShutdownDelay + flex.DefaultShutdownTimeout; total >= 30*time.Second {
		t.Errorf("default delay + timeout = %v, does not fit Kubernetes' 30s grace period", total)
	}
}

func TestStartWaitsForEveryRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newProbe("a")
		finished := false
		running := make(chan struct{})
		slow := flex.Func(func(ctx context.Context) error {
			close(running)
			<-ctx.Done()
			time.Sleep(2 * time.Second) // cleaning up after being halted
			finished = true
			return nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		result := startAsync(ctx, flex.New(quiet(nil)...), a, slow)
		<-a.started
		<-running
		cancel()
		if err := <-result; err != nil {
			t.Fatal(err)
		}
		if !finished {
			t.Error("Start returned before a Run had returned")
		}
	})
}

func TestStartNamesWorkersStillRunningAtTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		stuck := flex.Named("stuck", &stubborn{release: release})
		a := newProbe("polite")
		ctx, cancel := context.WithCancel(context.Background())
		result := startAsync(ctx, flex.New(quiet(nil, flex.WithShutdownTimeout(5*time.Second))...), stuck, a)
		<-a.started
		cancel()
		began := time.Now()
		err := <-result
		if got := time.Since(began); got != 5*time.Second {
			t.Errorf("Start returned %v after the trigger, want the 5s deadline", got)
		}
		if !errors.Is(err, flex.ErrShutdownTimeout) || !strings.Contains(err.Error(), "still running: stuck") {
			t.Errorf("Start = %v, want ErrShutdownTimeout naming stuck", err)
		}
		if strings.Contains(err.Error(), "polite") {
			t.Errorf("error names a worker that stopped: %v", err)
		}
		close(release)
	})
}

// stubborn ignores both Halt and its context until released.
type stubborn struct{ release chan struct{} }

func (s *stubborn) Run(context.Context) error  { <-s.release; return nil }
func (s *stubborn) Halt(context.Context) error { <-s.release; return nil }

func TestStartJoinsErrorsTriggerFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errTrigger, errHalt, errLate := errors.New("trigger"), errors.New("halt failed"), errors.New("late")
		a, b, c := newProbe("a"), newProbe("b"), newProbe("c")
		a.haltErr = errHalt
		c.runErr = errTrigger
		b.onHalt = func(ctx context.Context) error {
			b.runErr = errLate
			close(b.exit)
			<-b.done // as a worker's Halt waits for its Run (see TestGroupRunReturnsFirstMemberError)
			return nil
		}
		result := startAsync(context.Background(), flex.New(quiet(nil)...), a, b, c)
		<-a.started
		<-b.started
		close(c.exit)
		err := <-result
		for _, want := range []error{errTrigger, errHalt, errLate} {
			if !errors.Is(err, want) {
				t.Errorf("Start = %v, does not wrap %v", err, want)
			}
		}
		joined, ok := err.(interface{ Unwrap() []error })
		if !ok {
			t.Fatalf("Start = %T, want a joined error", err)
		}
		first := joined.Unwrap()[0]
		if !errors.Is(first, errTrigger) {
			t.Errorf("first error %v, want the trigger", first)
		}
		var we *flex.WorkerError
		if !errors.As(first, &we) || we.Worker != "c" || we.Op != "run" {
			t.Errorf("trigger error %#v, want a WorkerError for c's run", first)
		}
	})
}

func TestCancellationCausedByShutdownIsNotAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Halt does nothing, so Run returns ctx.Err() when Start cancels it.
		a := newProbe("a")
		a.onHalt = func(context.Context) error { return nil }
		ctx, cancel := context.WithCancel(context.Background())
		result := startAsync(ctx, flex.New(quiet(nil)...), a)
		<-a.started
		cancel()
		if err := <-result; err != nil {
			t.Fatalf("Start = %v, want nil", err)
		}
	})
}

func TestPanicsAreRecovered(t *testing.T) {
	for _, op := range []string{"run", "halt"} {
		t.Run(op, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				errValue := errors.New("value")
				a, b := newProbe("a"), newProbe("b")
				panicky := flex.Named("panicky", flex.Func(func(ctx context.Context) error {
					if op == "run" {
						panic(errValue)
					}
					<-ctx.Done()
					return nil
				}))
				var w flex.Worker = panicky
				if op == "halt" {
					w = &panicOnHalt{Worker: panicky, value: errValue}
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				var logs syncBuffer
				result := startAsync(ctx, flex.New(quiet(&logs)...), a, w, b)
				<-a.started
				<-b.started
				if op == "halt" {
					cancel()
				}
				err := <-result
				var pe *flex.PanicError
				if !errors.As(err, &pe) {
					t.Fatalf("Start = %v, want a PanicError", err)
				}
				if pe.Op != op || pe.Value != errValue || !strings.Contains(string(pe.Stack), "flex_test") {
					t.Errorf("PanicError op %q value %v stack %d bytes; want %q, the value and the stack", pe.Op, pe.Value, len(pe.Stack), op)
				}
				if !strings.Contains(pe.Error(), pe.Worker) || !errors.Is(err, errValue) {
					t.Errorf("panic error %q does not name the worker or wrap the value", pe.Error())
				}
				if want := "flex: panicky " + op + " panicked: value"; pe.Error() != want {
					t.Errorf("panic error %q, want %q: one line, the stack left out", pe.Error(), want)
				}
				logged := false
				for _, rec := range logs.records(t) {
					if stack, _ := rec["stack"].(string); rec["worker"] == "panicky" && strings.Contains(stack, "flex_test") {
						logged = true
					}
				}
				if !logged {
					t.Errorf("no log record of panicky has the stack in its \"stack\" attribute:\n%s", logs.String())
				}
				for _, p := range []*probe{a, b} {
					if !isClosed(p.halting) || !isClosed(p.done) {
						t.Errorf("%s not halted gracefully after the panic", p.name)
					}
				}
			})
		})
	}
}

type panicOnHalt struct {
	flex.Worker
	value any
}

func (p *panicOnHalt) String() string { return "panicky" }
func (p *panicOnHalt) Halt(ctx context.Context) error {
	p.Worker.Halt(ctx)
	panic(p.value)
}

func TestSecondSignalAbandonsShutdown(t *testing.T) {
	a := newProbe("a")
	a.onHalt = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	events := newEventLog()
	svc := flex.New(quiet(nil, flex.WithSignals(syscall.SIGINT, syscall.SIGTERM), flex.WithObserver(events),
		flex.WithShutdownTimeout(time.Hour))...)
	started, halting := events.next(flex.EventWorkerStarted), events.next(flex.EventWorkerHalting)
	result := startAsync(context.Background(), svc, a)
	<-started
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	<-halting
	syscall.Kill(syscall.Getpid(), syscall.SIGINT)
	err := <-result
	if !errors.Is(err, flex.ErrSecondSignal) {
		t.Fatalf("Start = %v, want ErrSecondSignal", err)
	}
	<-a.done // its context was cancelled on the way out
}

func TestSecondSignalDuringDelay(t *testing.T) {
	a := newProbe("a")
	events := newEventLog()
	svc := flex.New(quiet(nil, flex.WithSignals(syscall.SIGTERM), flex.WithObserver(events),
		flex.WithShutdownDelay(time.Hour))...)
	started, shutdown := events.next(flex.EventWorkerStarted), events.next(flex.EventShutdown)
	result := startAsync(context.Background(), svc, a)
	<-started
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	<-shutdown
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	if err := <-result; !errors.Is(err, flex.ErrSecondSignal) {
		t.Fatalf("Start = %v, want ErrSecondSignal", err)
	}
	if isClosed(a.halting) {
		t.Error("worker halted although the graceful path was abandoned during the delay")
	}
}

func TestBadInputFailsBeforeAnythingRuns(t *testing.T) {
	var typedNil *probe
	tests := []struct {
		name    string
		env     map[string]string
		opts    []flex.Option
		workers func(p *probe) []flex.Worker
		want    []string
		is      error
	}{
		{name: "no workers", workers: func(*probe) []flex.Worker { return nil }, is: flex.ErrNoWorkers},
		{name: "nil worker", workers: func(p *probe) []flex.Worker { return []flex.Worker{p, nil} }, is: flex.ErrNilWorker, want: []string{"worker 2 of 2"}},
		{name: "typed nil", workers: func(p *probe) []flex.Worker { return []flex.Worker{p, typedNil} }, is: flex.ErrNilWorker, want: []string{"*flex_test.probe"}},
		{name: "nil in group", workers: func(p *probe) []flex.Worker { return []flex.Worker{p, flex.NewGroup(typedNil)} }, is: flex.ErrNilWorker, want: []string{"group"}},
		{name: "bad timeout", env: map[string]string{flex.EnvShutdownTimeout: "soon"}, want: []string{"FLEX_SHUTDOWN_TIMEOUT", `"soon"`}},
		{name: "negative timeout", env: map[string]string{flex.EnvShutdownTimeout: "-5s"}, want: []string{"FLEX_SHUTDOWN_TIMEOUT", `"-5s"`}},
		{name: "zero timeout", env: map[string]string{flex.EnvShutdownTimeout: "0s"}, want: []string{"FLEX_SHUTDOWN_TIMEOUT", "positive"}},
		{name: "bad delay", env: map[string]string{flex.EnvShutdownDelay: "5"}, want: []string{"FLEX_SHUTDOWN_DELAY", `"5"`}},
		{name: "negative delay", env: map[string]string{flex.EnvShutdownDelay: "-1s"}, want: []string{"FLEX_SHUTDOWN_DELAY", `"-1s"`}},
		{name: "negative option", opts: []flex.Option{flex.WithShutdownTimeout(-time.Second)}, want: []string{"WithShutdownTimeout", `"-1s"`}},
		{name: "bad reserve", env: map[string]string{flex.EnvShutdownReserve: "1"}, want: []string{"FLEX_SHUTDOWN_RESERVE", `"1"`}},
		{name: "zero reserve", env: map[string]string{flex.EnvShutdownReserve: "0s"}, want: []string{"FLEX_SHUTDOWN_RESERVE", "positive"}},
		{name: "reserve too large", env: map[string]string{flex.EnvShutdownTimeout: "10s", flex.EnvShutdownReserve: "5s"},
			workers: func(p *probe) []flex.Worker { return []flex.Worker{p, newProbe("b"), newProbe("c")} },
			want:    []string{"FLEX_SHUTDOWN_RESERVE", `"5s"`, "2 workers", "10s"}},
		{name: "reserve option too large", opts: []flex.Option{flex.WithShutdownTimeout(time.Second), flex.WithShutdownReserve(time.Second)},
			workers: func(p *probe) []flex.Worker { return []flex.Worker{p, newProbe("b")} },
			want:    []string{"WithShutdownReserve", `"1s"`}},
		{name: "unnamed check", opts: []flex.Option{flex.WithReadinessCheck(flex.Check{Func: func(context.Context) error { return nil }})}, want: []string{"check"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			p := newProbe("p")
			workers := []flex.Worker{p}
			if tc.workers != nil {
				workers = tc.workers(p)
			}
			opts := append([]flex.Option{flex.WithLogger(discard()), flex.WithSignals()}, tc.opts...)
			err := flex.New(opts...).Start(context.Background(), workers...)
			if err == nil {
				t.Fatal("Start = nil, want an error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Start = %v, want %v", err, tc.is)
			}
			if !strings.HasPrefix(err.Error(), "flex: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
			if isClosed(p.started) {
				t.Error("a worker ran although the input was bad")
			}
		})
	}
}

func TestOptionBeatsEnvironment(t *testing.T) {
	t.Setenv(flex.EnvShutdownTimeout, "not a duration")
	synctest.Test(t, func(t *testing.T) {
		a := newProbe("a")
		ctx, cancel := context.WithCancel(context.Background())
		result := startAsync(ctx, flex.New(quiet(nil, flex.WithShutdownTimeout(3*time.Second))...), a)
		<-a.started
		cancel()
		began := time.Now()
		if err := <-result; err != nil {
			t.Fatal(err)
		}
		if d, _ := a.haltContext().Deadline(); d.Sub(began) != 3*time.Second-grace {
			t.Errorf("deadline %v after shutdown, want the option's 3s", d.Sub(began))
		}
	})
}

func TestEnvironmentSetsTimeout(t *testing.T) {
	t.Setenv(flex.EnvShutdownTimeout, "1500ms")
	synctest.Test(t, func(t *testing.T) {
		a := newProbe("a")
		ctx, cancel := context.WithCancel(context.Background())
		result := startAsync(ctx, flex.New(quiet(nil)...), a)
		<-a.started
		cancel()
		began := time.Now()
		<-result
		if d, _ := a.haltContext().Deadline(); d.Sub(began) != 1500*time.Millisecond-grace {
			t.Errorf("deadline %v after shutdown, want 1.5s from FLEX_SHUTDOWN_TIMEOUT", d.Sub(began))
		}
	})
}

func TestServiceStartsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := flex.New(quiet(nil)...)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := svc.Start(ctx, newProbe("a")); err != nil {
			t.Fatal(err)
		}
		if err := svc.Start(ctx, newProbe("b")); !errors.Is(err, flex.ErrAlreadyStarted) {
			t.Errorf("second Start = %v, want ErrAlreadyStarted", err)
		}
	})
}

func TestLifecycleIsLogged(t *testing.T) {
	buf := &syncBuffer{}
	a := newProbe("web")
	svc := flex.New(quiet(buf, flex.WithSignals(syscall.SIGTERM))...)
	result := startAsync(context.Background(), svc, a)
	<-a.started
	waitFor(t, func() bool { return hasMessage(buf.records(t), "flex: worker started") })
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	records := buf.records(t)
	for _, want := range []string{"flex: starting", "flex: worker started", "flex: signal received",
		"flex: halting worker", "flex: worker halted", "flex: stopped"} {
		if !hasMessage(records, want) {
			t.Errorf("no %q line in the log:\n%v", want, records)
		}
	}
	for _, rec := range records {
		if rec["msg"] == "flex: worker halted" {
			if rec["worker"] != "web" || rec["duration"] == nil {
				t.Errorf("halted line %v lacks worker name or duration", rec)
			}
		}
		if rec["msg"] == "flex: signal received" && rec["signal"] != "terminated" {
			t.Errorf("signal line %v does not name the signal", rec)
		}
	}
}

func hasMessage(records []map[string]any, msg string) bool {
	for _, r := range records {
		if r["msg"] == msg {
			return true
		}
	}
	return false
}

// waitFor polls cond, for conditions that have no event to wait on. It is
// not a sleep-based assertion: it only returns early.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 10s")
}

func TestObserverSeesTheLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		events := newEventLog()
		a := newProbe("a")
		a.haltErr = errors.New("halt failed")
		r := &readyProbe{probe: newProbe("r"), ready: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		result := startAsync(ctx, flex.New(quiet(nil, flex.WithObserver(events))...), a, r)
		<-r.started
		close(r.ready)
		synctest.Wait()
		time.Sleep(time.Second)
		cancel()
		<-result
		var kinds []string
		for _, e := range events.all() {
			if e.Time.IsZero() {
				t.Errorf("event %v has no time", e.Kind)
			}
			kinds = append(kinds, e.Kind.String()+":"+e.Worker)
			if e.Kind == flex.EventWorkerHalted && e.Worker == "a" && e.Err == nil {
				t.Error("halted event of a lacks its error")
			}
			if e.Kind == flex.EventWorkerStopped && e.Worker == "r" && e.Duration != time.Second {
				t.Errorf("r ran %v, want 1s", e.Duration)
			}
		}
		got := strings.Join(kinds, " ")
		for _, want := range []string{"starting:", "worker ready:r", "shutdown:", "worker halting:r", "worker halted:r",
			"worker stopped:r", "worker halting:a", "worker halted:a", "worker stopped:a", "stopped:"} {
			if !strings.Contains(got, want) {
				t.Errorf("events %q lack %q", got, want)
			}
		}
		if !strings.HasPrefix(got, "starting:") || !strings.HasSuffix(got, "stopped:") {
			t.Errorf("events %q do not begin with starting and end with stopped", got)
		}
	})
}

type readyProbe struct {
	*probe
	ready chan struct{}
}

func (r *readyProbe) Ready() <-chan struct{} { return r.ready }

func TestPackageStartAndMustStart(t *testing.T) {
	t.Setenv(flex.EnvShutdownDelay, "0s")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := flex.Start(ctx, newProbe("a")); err != nil {
		t.Errorf("Start = %v", err)
	}
	flex.MustStart(ctx, newProbe("b")) // returns: no error, no exit
}

func discard() *slogLogger { return slogNew(io.Discard) }

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// A service whose shutdown began without a signal (its context was
// cancelled, as with signal.NotifyContext, or a worker stopped) takes the
// first signal that arrives during shutdown as the first, not the second:
// with signal.NotifyContext, one SIGTERM both cancels ctx and reaches Start.
func TestFirstSignalDuringShutdownKeepsItGraceful(t *testing.T) {
	buf := &syncBuffer{}
	release := make(chan struct{})
	a := newProbe("a")
	a.onHalt = func(ctx context.Context) error {
		<-release
		close(a.stop)
		return nil
	}
	events := newEventLog()
	svc := flex.New(quiet(buf, flex.WithSignals(syscall.SIGTERM), flex.WithObserver(events))...)
	halting := events.next(flex.EventWorkerHalting)
	ctx, cancel := context.WithCancel(context.Background())
	result := startAsync(ctx, svc, a)
	<-a.started
	cancel()
	<-halting
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(buf.String(), "signal") })
	close(release)
	if err := <-result; err != nil {
		t.Fatalf("Start = %v, want nil: only one signal was sent", err)
	}
}

func TestSecondSignalAfterContextTrigger(t *testing.T) {
	buf := &syncBuffer{}
	a := newProbe("a")
	a.onHalt = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	events := newEventLog()
	svc := flex.New(quiet(buf, flex.WithSignals(syscall.SIGTERM), flex.WithObserver(events))...)
	halting := events.next(flex.EventWorkerHalting)
	ctx, cancel := context.WithCancel(context.Background())
	result := startAsync(ctx, svc, a)
	<-a.started
	cancel()
	<-halting
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	waitFor(t, func() bool { return strings.Contains(buf.String(), "signal") })
	if !strings.Contains(buf.String(), "flex: signal received") {
		// Start has returned and stopped handling signals: a second
		// SIGTERM would kill the test binary.
		t.Fatalf("the first signal during shutdown abandoned it: %v", <-result)
	}
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	if err := <-result; !errors.Is(err, flex.ErrSecondSignal) {
		t.Fatalf("Start = %v, want ErrSecondSignal", err)
	}
	<-a.done
}

// The package's own wrappers around nothing are nil workers too: without
// this check they start the others and then panic at their first call.
func TestNilInsideWrappersFailsBeforeAnythingRuns(t *testing.T) {
	var typedNil *probe
	for name, w := range map[string]flex.Worker{
		"Named(nil)":          flex.Named("empty", nil),
		"Named(typed nil)":    flex.Named("empty", typedNil),
		"Func(nil)":           flex.Func(nil),
		"FromRunner(nil)":     flex.FromRunner(nil),
		"FromRunner(typed)":   flex.FromRunner(typedNil),
		"Named(Func(nil))":    flex.Named("empty", flex.Func(nil)),
		"group of Named(nil)": flex.NewGroup(flex.Named("empty", nil)),
		"Named(group of nil)": flex.Named("g", flex.NewGroup(typedNil)),
	} {
		t.Run(name, func(t *testing.T) {
			p := newProbe("p")
			err := flex.New(quiet(nil)...).Start(context.Background(), p, w)
			if !errors.Is(err, flex.ErrNilWorker) || !strings.Contains(err.Error(), "worker 2 of 2") {
				t.Errorf("Start = %v, want ErrNilWorker naming worker 2 of 2", err)
			}
			if isClosed(p.started) {
				t.Error("a worker ran although one was nil")
			}
		})
	}
}

// The error names the value as the user wrote it, so that it can be found.
func TestBadEnvironmentValueIsQuotedAsWritten(t *testing.T) {
	t.Setenv(flex.EnvShutdownDelay, "-1500ms")
	err := flex.New(flex.WithLogger(discard()), flex.WithSignals()).Start(context.Background(), newProbe("p"))
	if err == nil || !strings.Contains(err.Error(), `FLEX_SHUTDOWN_DELAY "-1500ms"`) {
		t.Errorf("Start = %v, want it to quote FLEX_SHUTDOWN_DELAY \"-1500ms\"", err)
	}
}

// The default logger is read by New, once: a slog.SetDefault after New
// does not move the Service's logs. (Not parallel: it sets the process's
// default logger, and puts it back.)
func TestDefaultLoggerReadByNew(t *testing.T) {
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) })
	var atNew, later syncBuffer
	slog.SetDefault(slog.New(slog.NewJSONHandler(&atNew, nil)))
	svc := flex.New(flex.WithSignals(), flex.WithShutdownDelay(0))
	slog.SetDefault(slog.New(slog.NewJSONHandler(&later, nil)))

	if err := svc.Start(context.Background(), flex.Func(func(context.Context) error { return nil })); err != nil {
		t.Fatalf("Start = %v, want nil", err)
	}
	if !strings.Contains(atNew.String(), "flex: stopped") || later.String() != "" {
		t.Errorf("logs went to the default logger set after New:\nat New: %s\nlater: %s", atNew.String(), later.String())
	}
}
