package flex

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
)

// Runner is the interface that wraps the Run method.
//
// Run does the work and blocks until the work is done, the Runner is
// halted, or ctx is cancelled. A Run that returns, with or without an
// error, tells [Start] that the service can no longer do its job, and
// shutdown begins.
//
// When ctx is cancelled, Run stops as if halted with an expired deadline
// and returns. [Start] cancels it only after the worker's Halt has returned
// or the shutdown deadline has passed, so Run does not need to watch ctx to
// shut down gracefully; Halt is the graceful path.
type Runner interface {
	Run(ctx context.Context) error
}

// Halter is the interface that wraps the Halt method.
//
// Halt tells a running worker to stop doing work, finish what it has
// accepted, release its resources and let its Run return. Halt blocks until
// that is done or ctx is done, whichever is first; when ctx is done it stops
// waiting, abandons what is left (closing connections, cancelling handlers)
// and returns an error saying so, typically wrapping ctx.Err().
//
// Halt must be safe to call before Run, without Run, concurrently with Run
// and more than once; a Run that starts after Halt returns promptly.
// [Start] calls Halt with a live context whose deadline is the worker's
// share of FLEX_SHUTDOWN_TIMEOUT, never one that is already cancelled,
// except for the workers whose turn comes after that deadline has passed:
// their Halt gets the expired context, so that they abandon their work at
// once, and is not waited for. A Halt that overruns its deadline takes time
// from the workers halted after it, so when ctx is done, Halt should give
// up promptly rather than finish its work.
type Halter interface {
	Halt(ctx context.Context) error
}

// Worker is a long-lived part of a service that can run and halt itself:
// an HTTP server, a queue consumer, a scheduler. The flextest package checks
// that a Worker keeps the contract of [Runner] and [Halter].
type Worker interface {
	Runner
	Halter
}

// Readier is implemented by workers that become ready some time after Run
// starts, such as a server that must bind its port first. Ready returns a
// channel that is closed once the worker can do its job. A worker that does
// not implement Readier is ready as soon as its Run has been called.
type Readier interface {
	Ready() <-chan struct{}
}

// Checker is implemented by workers that can tell whether they are able to
// do their job right now, such as a consumer that must reach its broker.
// [Service] runs Check on every readiness probe, under the probe's timeout,
// as a check named after the worker.
type Checker interface {
	Check(ctx context.Context) error
}

// RunFunc is an adapter that lets an ordinary function be a [Runner], as
// http.HandlerFunc lets a function be a Handler. Use [Func] to make such a
// function a [Worker].
type RunFunc func(ctx context.Context) error

// Run calls f(ctx).
func (f RunFunc) Run(ctx context.Context) error { return f(ctx) }

// String names f after the function it holds, such as "main.heartbeat" or
// "main.main.func1" for a closure, so that function workers can be told
// apart in logs and errors without [Named].
func (f RunFunc) String() string {
	if f == nil {
		return "flex.RunFunc(nil)"
	}
	fn := runtime.FuncForPC(reflect.ValueOf(f).Pointer())
	if fn == nil {
		return "flex.RunFunc"
	}
	name := fn.Name()
	return name[strings.LastIndexByte(name, '/')+1:] // drop the import path
}

// Func returns a [Worker] that calls run and is halted by cancelling the
// context given to run. See [FromRunner].
func Func(run func(ctx context.Context) error) Worker {
	return FromRunner(RunFunc(run))
}

// FromRunner returns a [Worker] that runs r and halts it by cancelling the
// context given to r.Run. Its Halt waits for r.Run to return until the halt
// context is done. A context.Canceled error caused by Halt is not reported.
// Halt before Run makes the next Run return nil at once. The Worker may run
// only once; later Runs return nil at once.
func FromRunner(r Runner) Worker {
	return &runnerWorker{r: r}
}

type runnerWorker struct {
	r Runner

	mu       sync.Mutex
	ran      bool               // Run was called, or can no longer be
	halted   bool               // Halt was called
	finished bool               // Run has returned, or will never run
	cancel   context.CancelFunc // cancels the running r.Run
	done     chan struct{}      // made by a Halt that must wait; closed when Run returns
}

func (w *runnerWorker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.mu.Lock()
	if w.ran {
		w.mu.Unlock()
		return nil // halted before Run, or run already
	}
	w.ran, w.cancel = true, cancel
	w.mu.Unlock()

	defer w.finish() // deferred: r.Run may panic
	err := w.r.Run(ctx)
	if errors.Is(err, context.Canceled) && w.wasHalted() {
		return nil // the cancellation is how Halt asked Run to return
	}
	return err
}

// finish records that Run has returned and wakes a waiting Halt.
func (w *runnerWorker) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finished = true
	if w.done != nil {
		close(w.done)
	}
}

func (w *runnerWorker) wasHalted() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.halted
}

func (w *runnerWorker) Halt(ctx context.Context) error {
	w.stop()
	w.mu.Lock()
	if w.finished {
		w.mu.Unlock()
		return nil
	}
	if w.done == nil {
		w.done = make(chan struct{}) // only now: most halts come through Start, which waits otherwise
	}
	done := w.done
	w.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("flex: halt %s: run did not return: %w", Name(w), ctx.Err())
	}
}

// stop asks Run to return without waiting for it; see [stopper].
func (w *runnerWorker) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.halted {
		return
	}
	w.halted = true
	if !w.ran {
		w.ran, w.finished = true, true // Run will not start
		return
	}
	w.cancel()
}

// String names the worker after the Runner it wraps.
func (w *runnerWorker) String() string { return Name(w.r) }

// stopper is implemented by this package's own workers, whose Halt only
// asks Run to return and waits for it: halting them needs no goroutine to
// bound a Halt that might ignore its context (their owner waits for Run to
// return instead), and a Group can stop them all before waiting for any.
type stopper interface {
	stop() // ask Run to return, or not to start; never blocks
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Named returns a Worker that behaves like w and is called name in logs,
// errors, health checks and events. It keeps w's Readier and Checker.
func Named(name string, w Worker) Worker {
	return &named{Worker: w, name: name}
}

type named struct {
	Worker
	name string
}

func (n *named) String() string { return n.name }

// Ready forwards to the wrapped worker, or reports ready at once.
func (n *named) Ready() <-chan struct{} { return readyChan(n.Worker) }

// Check forwards to the wrapped worker when it is a [Checker].
func (n *named) Check(ctx context.Context) error {
	if c, ok := n.Worker.(Checker); ok {
		return c.Check(ctx)
	}
	return nil
}

// Name returns the name flex uses for v in logs, errors and events: the
// name given to [Named], else v's String method when v is a fmt.Stringer,
// else its type.
func Name(v any) string {
	if s, ok := v.(fmt.Stringer); ok && !isNil(v) {
		return s.String()
	}
	if v == nil {
		return "<nil>"
	}
	return reflect.TypeOf(v).String()
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// readyChan returns w's readiness channel, or a closed one when w does not
// implement Readier.
func readyChan(w Worker) <-chan struct{} {
	if r, ok := w.(Readier); ok {
		return r.Ready()
	}
	return closedChan
}

// isNil reports whether v is nil or an interface holding a nil pointer,
// map, func, channel or slice, which would panic on the first method call.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
