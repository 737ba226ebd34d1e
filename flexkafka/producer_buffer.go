package flexkafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ErrBufferFull is wrapped by the error of [Producer.Produce] when its
// messages do not fit in the bound set by [WithMaxBuffered]: under
// [WithNonBlocking] while the producer holds too many unacknowledged
// messages, and in any mode for a single call of more messages than the
// bound. Nothing of the call was written.
var ErrBufferFull = errors.New("flexkafka: producer buffer full")

// buffer bounds the messages a producer holds without an outcome. Produce
// takes room before it hands messages to the writer; each message gives its
// room back when it is acknowledged or fails. Taking and giving are atomic;
// the lock is only for those who wait.
type buffer struct {
	// Read or written by every call first (see front).
	used    atomic.Int64
	waiters atomic.Int64
	max     int64
	block   bool

	mu   sync.Mutex
	room chan struct{} // closed when room is given back; nil while nobody waits
	by   string        // the option or variable that set max, for errors
}

// take takes room for n messages. It waits for room while blocking, until
// ctx is done or halted is closed; otherwise, it fails at once.
func (b *buffer) take(ctx context.Context, n int, halted <-chan struct{}) error {
	if int64(n) > b.max {
		return fmt.Errorf("%w: %d messages in one call exceed the bound of %d (%s)", ErrBufferFull, n, b.max, b.by)
	}
	if b.tryTake(int64(n)) {
		return nil
	}
	if !b.block {
		return fmt.Errorf("%w: %d messages held without an outcome, %d more would exceed %d (%s)", ErrBufferFull, b.used.Load(), n, b.max, b.by)
	}
	b.waiters.Add(1)
	defer b.waiters.Add(-1)
	for {
		// Registered as a waiter before trying: a give after this try
		// sees the waiter and closes the channel taken here.
		b.mu.Lock()
		if b.tryTake(int64(n)) {
			b.mu.Unlock()
			return nil
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
	}
}

func (b *buffer) tryTake(n int64) bool {
	for {
		used := b.used.Load()
		if used+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// give gives back the room of n messages and wakes the waiters.
func (b *buffer) give(n int) {
	if n == 0 {
		return
	}
	b.used.Add(-int64(n))
	if b.waiters.Load() == 0 {
		return
	}
	b.mu.Lock()
	if b.room != nil {
		close(b.room)
		b.room = nil
	}
	b.mu.Unlock()
}
