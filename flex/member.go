package flex

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"
)

// member is one worker as run by a Service or a Group: its own Run context,
// so that it can be cancelled after the worker is halted, and a record of
// whether Run has started and returned.
type member struct {
	w       Worker
	name    string
	ctx     context.Context
	cancel  context.CancelFunc // nil for a stopper, which cancels its own
	started atomic.Bool
	claimed atomic.Bool   // a Group's Run or Halt has returned err
	since   time.Time     // set before Run is called
	done    chan struct{} // closed when Run has returned
	err     error         // Run's error, readable once done is closed

	// Set when a Service reports the member's Halt, for its Timeline.
	halted   bool
	haltTook time.Duration
	haltErr  error
}

func newMember(base context.Context, w Worker) *member {
	m := &member{w: w, name: Name(w), done: make(chan struct{})}
	if _, ok := w.(stopper); ok {
		// A stopper cancels the context it gives its Run itself: a context
		// of our own would only cost allocations.
		m.ctx = base
	} else {
		m.ctx, m.cancel = context.WithCancel(base)
	}
	return m
}

// cancelRun cancels the context given to Run.
func (m *member) cancelRun() {
	if m.cancel != nil {
		m.cancel()
	} else {
		m.w.(stopper).stop()
	}
}

// run calls Run, recovering a panic, records its result and calls exited
// before closing done, so that whoever waits on done sees what exited did.
// A cancellation that the owner caused by cancelling m.ctx is not an error.
func (m *member) run(exited func(*member)) {
	m.since = time.Now()
	m.started.Store(true)
	err := m.callRun()
	if err != nil && m.ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil
	}
	m.err = err
	exited(m)
	close(m.done)
}

// halt calls Halt in its own goroutine, recovering a panic, and waits for it
// until ctx is done, so that a Halt ignoring its context cannot hold up the
// shutdown of the others.
func (m *member) halt(ctx context.Context) error { return m.haltUntil(ctx, ctx) }

// haltUntil is halt, waiting for Halt's result until wait is done rather
// than ctx, so that a Halt that gives up when ctx is done has a moment to
// say how it ended.
func (m *member) haltUntil(ctx, wait context.Context) error {
	if s, ok := m.w.(stopper); ok {
		s.stop()
		return m.waitStopped(wait)
	}
	result := make(chan error, 1)
	go func() { result <- m.callHalt(ctx) }()
	select {
	case err := <-result:
		return err
	case <-wait.Done():
		return &WorkerError{Worker: m.name, Op: "halt", Err: fmt.Errorf("did not return before the deadline: %w", wait.Err())}
	}
}

// waitStopped waits for a stopped stopper's Run to return until ctx is done.
// (Its Run returns at once if it has not started, so done is closed soon.)
func (m *member) waitStopped(ctx context.Context) error {
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		return &WorkerError{Worker: m.name, Op: "halt", Err: fmt.Errorf("run did not return before the deadline: %w", ctx.Err())}
	}
}

// callRun and callHalt call the worker, turning a panic into a *PanicError
// and an error into a *WorkerError. (Two functions rather than one taking
// a method value, which would allocate for every worker.)
func (m *member) callRun() (err error) {
	defer m.recoverInto("run", &err)
	if err := m.w.Run(m.ctx); err != nil {
		return &WorkerError{Worker: m.name, Op: "run", Err: err}
	}
	return nil
}

func (m *member) callHalt(ctx context.Context) (err error) {
	defer m.recoverInto("halt", &err)
	if err := m.w.Halt(ctx); err != nil {
		return &WorkerError{Worker: m.name, Op: "halt", Err: err}
	}
	return nil
}

func (m *member) recoverInto(op string, err *error) {
	if v := recover(); v != nil {
		*err = &PanicError{Worker: m.name, Op: op, Value: v, Stack: debug.Stack()}
	}
}

func (m *member) isDone() bool { return isClosed(m.done) }

// stillRunning returns an error wrapping ErrShutdownTimeout that names the
// members whose Run has not returned, or nil when all have.
func stillRunning(members []*member) error {
	var names []string
	for _, m := range members {
		if !m.isDone() {
			names = append(names, m.name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	const most = 20
	list := names
	if len(list) > most {
		list = list[:most]
	}
	suffix := ""
	if len(names) > most {
		suffix = fmt.Sprintf(" and %d more", len(names)-most)
	}
	return fmt.Errorf("%w: still running: %s%s", ErrShutdownTimeout, strings.Join(list, ", "), suffix)
}
