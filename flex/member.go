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
	cancel  context.CancelFunc
	started atomic.Bool
	since   time.Time     // set before Run is called
	done    chan struct{} // closed when Run has returned
	err     error         // Run's error, readable once done is closed
}

func newMember(base context.Context, w Worker) *member {
	ctx, cancel := context.WithCancel(base)
	return &member{w: w, name: Name(w), ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// run calls Run, recovering a panic, and records its result. A cancellation
// that the owner caused by cancelling m.ctx is not an error.
func (m *member) run() error {
	defer close(m.done)
	m.since = time.Now()
	m.started.Store(true)
	err := m.call(m.ctx, "run", m.w.Run)
	if err != nil && m.ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil
	}
	m.err = err
	return err
}

// halt calls Halt in its own goroutine, recovering a panic, and waits for it
// until ctx is done, so that a Halt ignoring its context cannot hold up the
// shutdown of the others.
func (m *member) halt(ctx context.Context) error {
	result := make(chan error, 1)
	go func() { result <- m.call(ctx, "halt", m.w.Halt) }()
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		return &WorkerError{Worker: m.name, Op: "halt", Err: fmt.Errorf("did not return before the deadline: %w", ctx.Err())}
	}
}

// call runs fn, turning a panic into a *PanicError and an error into a
// *WorkerError.
func (m *member) call(ctx context.Context, op string, fn func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Worker: m.name, Op: op, Value: v, Stack: debug.Stack()}
		}
	}()
	if err := fn(ctx); err != nil {
		return &WorkerError{Worker: m.name, Op: op, Err: err}
	}
	return nil
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
