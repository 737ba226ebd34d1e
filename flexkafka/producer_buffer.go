package flexkafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrBufferFull is wrapped by the error of [Producer.Produce] when its
// messages do not fit in the bound set by [WithMaxBuffered]: under
// [WithNonBlocking] while the producer holds too many unacknowledged
// messages, and in any mode for a single call of more messages than the
// bound. Nothing of the call was written.
var ErrBufferFull = errors.New("flexkafka: producer buffer full")

// buffer bounds the messages a producer holds without an outcome. Produce
// takes room before it hands messages to the writer; each message gives its
// room back when it is acknowledged or fails.
type buffer struct {
	max   int
	by    string // the option or variable that set max, for errors
	block bool

	mu   sync.Mutex
	used int
	room chan struct{} // closed when room is given back; nil while nobody waits
}

// take takes room for n messages. It waits for room while blocking, until
// ctx is done or halted is closed; otherwise, it fails at once.
func (b *buffer) take(ctx context.Context, n int, halted <-chan struct{}) error {
	if n > b.max {
		return fmt.Errorf("%w: %d messages in one call exceed the bound of %d (%s)", ErrBufferFull, n, b.max, b.by)
	}
	b.mu.Lock()
	for b.used+n > b.max {
		if !b.block {
			used := b.used
			b.mu.Unlock()
			return fmt.Errorf("%w: %d messages held without an outcome, %d more would exceed %d (%s)", ErrBufferFull, used, n, b.max, b.by)
		}
		if b.room == nil {
			b.room = make(chan struct{})
		}
		room := b.room
		b.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return fmt.Errorf("flexkafka: produce: no room for %d messages (%s) before the context was done: %w", n, b.by, ctx.Err())
		case <-halted:
			return ErrProducerClosed
		}
		b.mu.Lock()
	}
	b.used += n
	b.mu.Unlock()
	return nil
}

// give gives back the room of n messages and wakes the waiters.
func (b *buffer) give(n int) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.room != nil {
		close(b.room)
		b.room = nil
	}
	b.mu.Unlock()
}
