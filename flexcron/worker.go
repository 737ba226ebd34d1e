package flexcron

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/go-flexible/flexible/flex"
)

// A Scheduler is a flex.Worker, and reports panics as flex does: this is
// why flexcron requires flex, and this file holds all it uses of it.
var _ flex.Worker = (*Scheduler)(nil)

// panicError is the error of a job that panicked with v, as every module
// reports a panic: a *flex.PanicError naming the Scheduler and the job. It
// is called by the deferred function that recovered v, so that the stack
// is the panicking one.
func (s *Scheduler) panicError(job string, v any) error {
	return &flex.PanicError{Worker: s.String(), Op: fmt.Sprintf("job %q", job), Value: v, Stack: debug.Stack()}
}

// asPanic returns the *flex.PanicError in err's chain, or nil.
func asPanic(err error) *flex.PanicError {
	var pe *flex.PanicError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}
