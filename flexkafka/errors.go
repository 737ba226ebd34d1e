package flexkafka

import (
	"errors"
	"fmt"

	"github.com/go-flexible/flexible/flex"
)

var (
	// ErrProducerClosed is returned by [Producer.Produce] once [Producer.Halt]
	// has begun: the message was not accepted and nothing was written.
	ErrProducerClosed = errors.New("flexkafka: producer halted")

	// ErrNotJoined is returned by [Consumer.Check] while the consumer is not a
	// member of its group: before Run, while joining, after a failed join and
	// after Run returned.
	ErrNotJoined = errors.New("flexkafka: consumer has not joined its group")

	// ErrHandlersCancelled is wrapped by the errors of [Consumer.Halt] and
	// [Consumer.Run] when handlers were still running when the halt
	// deadline came near, had their context cancelled and did not complete
	// (returned an error), and by Run's when Halt or Run's context
	// abandoned handlers still running. Their messages were not committed
	// and will be delivered again.
	ErrHandlersCancelled = errors.New("flexkafka: handlers cancelled at the halt deadline")

	// ErrRetrying is wrapped by the error of [Consumer.Check] while a
	// message is being retried (see [Retry]): its partition is stalled.
	ErrRetrying = errors.New("flexkafka: message being retried")

	// ErrHandlerStuck is wrapped by the error of [Consumer.Check] while a
	// handler call has run longer than [WithHandlerTimeout]: it ignores
	// its context, and its partition is stalled.
	ErrHandlerStuck = errors.New("flexkafka: handler stuck past its timeout")

	// ErrRevoked is the cause (see context.Cause) of a handler's context
	// cancelled because its partition was revoked: the group generation
	// ended (a rebalance, or the membership was lost). The handler must
	// return: its result is dropped after a short grace, and the message
	// goes to the partition's next owner.
	ErrRevoked = errors.New("flexkafka: partition revoked: the group generation ended")

	// ErrHandlerTimeout is the cause (see context.Cause) of a handler's
	// context cancelled by [WithHandlerTimeout].
	ErrHandlerTimeout = errors.New("flexkafka: handler timeout")
)

// HandlerError is returned by [Consumer.Run] when the handler's
// middleware returned an error: by default, when a message failed
// permanently and no dead-letter topic is configured, or when publishing
// it to the dead-letter topic failed permanently (see [DeadLetter]; a
// transient write failure is retried). The message's offset was not
// committed: the group delivers it again when consumption resumes.
type HandlerError struct {
	Topic     string
	Partition int
	Offset    int64 // the message's offset; for a batch, its first message's
	Attempts  int   // how many times the handler was called
	Err       error // the handler's last error (or the dead-letter write error)
}

// Error names the message and the attempts, then gives the handler's error.
func (e *HandlerError) Error() string {
	return fmt.Sprintf("flexkafka: message %s/%d@%d failed after %d attempts: %v",
		e.Topic, e.Partition, e.Offset, e.Attempts, e.Err)
}

// Unwrap returns the handler's error.
func (e *HandlerError) Unwrap() error { return e.Err }

// permanentError marks an error that must not be retried.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that [Retry] does not retry the message: it is
// dead-lettered at once, after exactly one attempt (or, without a
// dead-letter topic, stops the consumer). Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// isPermanent reports whether err is marked permanent or is a panic.
func isPermanent(err error) bool {
	var p *permanentError
	var pe *flex.PanicError
	return errors.As(err, &p) || errors.As(err, &pe)
}
