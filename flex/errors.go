package flex

import (
	"errors"
	"fmt"
)

var (
	// ErrNoWorkers is returned by [Start] and [Service.Start] when they are
	// given no workers, and by [Group.Run] for an empty group.
	ErrNoWorkers = errors.New("flex: no workers to start")

	// ErrNilWorker is returned by [Start], [Service.Start] and [Group.Run]
	// when a worker is nil or an interface holding a nil pointer.
	ErrNilWorker = errors.New("flex: nil worker")

	// ErrAlreadyStarted is returned by [Service.Start] when the Service has
	// been started before. A Service runs once; build a new one to restart.
	ErrAlreadyStarted = errors.New("flex: service already started")

	// ErrSecondSignal is returned by [Start] and [Service.Start] when a
	// second SIGINT or SIGTERM (counted from Start) arrives during shutdown:
	// the graceful path is abandoned and Start returns at once, leaving
	// workers running.
	ErrSecondSignal = errors.New("flex: second signal received, graceful shutdown abandoned")

	// ErrShutdownTimeout is returned by [Start], [Service.Start] and
	// [Group.Halt] when the shutdown deadline passes before every worker's
	// Run has returned. The error that wraps it names those workers.
	ErrShutdownTimeout = errors.New("flex: shutdown deadline exceeded")
)

// WorkerError is an error returned by a worker's Run or Halt, as reported by
// [Start]. It names the worker and the method; Unwrap returns the worker's
// own error, so errors.Is and errors.As reach it.
type WorkerError struct {
	Worker string // the worker's name, see [Name]
	Op     string // "run" or "halt"
	Err    error
}

func (e *WorkerError) Error() string {
	return fmt.Sprintf("flex: %s %s: %v", e.Worker, e.Op, e.Err)
}

// Unwrap returns the worker's error.
func (e *WorkerError) Unwrap() error { return e.Err }

// PanicError is the error reported when code that a flex-based module
// calls panics: a worker's Run or Halt under [Start] and [Group], and the
// handlers and jobs that adapters call for the user (flexkafka's message
// handlers, flexcron's jobs). The panic is recovered so that the other
// workers can still be halted gracefully, and every module reports it as
// this one type.
//
// Error is one line and leaves the stack out; Stack holds it, and flex
// logs it with the attribute "stack".
type PanicError struct {
	Worker string // the worker's name, see [Name]; empty when not known
	Op     string // what panicked: "run" or "halt", or an adapter's call, such as "handler" or `job "report"`
	Value  any    // the value given to panic
	Stack  []byte // the panicking goroutine's stack, from runtime/debug.Stack
}

// Error names the worker and the call that panicked, and gives the panic
// value: "flex: http(:8080) run panicked: boom".
func (e *PanicError) Error() string {
	if e.Worker == "" {
		return fmt.Sprintf("flex: %s panicked: %v", e.Op, e.Value)
	}
	return fmt.Sprintf("flex: %s %s panicked: %v", e.Worker, e.Op, e.Value)
}

// Unwrap returns the panic value when it is an error, so that
// panic(io.ErrUnexpectedEOF) can still be matched with errors.Is.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
