package flexkafka

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// calls counts the Produce calls handing messages to the writer, and
// refuses new ones once Halt began. One atomic word holds both the count
// and the refusal, so that a call costs two atomic adds on it: a lock
// plus a WaitGroup cost four writes to memory every Produce shares.
type calls struct {
	state atomic.Int64 // closedBit, once closed, plus the calls in progress
	idle  *idle
}

// idle is closed once calls is closed with no call in progress.
type idle struct {
	once sync.Once
	ch   chan struct{}
}

func (i *idle) close() {
	i.once.Do(func() { close(i.ch) })
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
		c.idle.close()
	}
}

// close refuses new calls; the calls in progress go on, and idle is closed
// when the last one leaves.
func (c *calls) close() {
	if c.state.Add(closedBit) == closedBit {
		c.idle.close()
	}
}

// front is what every Produce call writes: the calls in progress, the
// count of messages accepted and the buffer's count, all on its first
// cache line. It is allocated alone, 128 bytes: that size class keeps it
// on a 64-byte boundary. Each of them on a line of its own would cost a
// call a cache miss for each, whenever another core wrote it last.
type front struct {
	writes   calls
	accepted atomic.Uint64
	buffer   buffer // its hot fields first
	_        [40]byte
}

// Fails to compile unless a front is 128 bytes.
var _ = [1]struct{}{}[unsafe.Sizeof(front{})-128]
