package flexkafka

import (
	"sync"
	"sync/atomic"
)

// calls counts the Produce calls handing messages to the writer, and
// refuses new ones once Halt began. One atomic word holds both the count
// and the refusal, so that a call costs two atomic adds on it: a lock
// plus a WaitGroup cost four writes to memory every Produce shares.
type calls struct {
	state    atomic.Int64 // closedBit, once closed, plus the calls in progress
	idleOnce sync.Once
	idle     chan struct{} // closed once closed with no call in progress
}

const closedBit = 1 << 62

// enter begins a call. It reports false, and the call must not go on,
// once close was called.
func (c *calls) enter() bool {
	if c.state.Add(1)&closedBit != 0 {
		c.leave() // refused: counted only for an instant
		return false
	}
	return true
}

// leave ends a call that enter let in.
func (c *calls) leave() {
	if c.state.Add(-1) == closedBit {
		c.idleOnce.Do(func() { close(c.idle) })
	}
}

// close refuses new calls; the calls in progress go on, and idle is closed
// when the last one leaves.
func (c *calls) close() {
	if c.state.Add(closedBit) == closedBit {
		c.idleOnce.Do(func() { close(c.idle) })
	}
}
