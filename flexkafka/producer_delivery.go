package flexkafka

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/segmentio/kafka-go"
)

// ErrNotAcknowledged is wrapped by the error of [Producer.Halt] when
// messages accepted by the producer ended without an acknowledgement: their
// write failed during the flush, or the deadline came first. It is also
// wrapped by the error given to the [WithAsync] callback, or returned by a
// synchronous Produce, for each message still unacknowledged when Halt gave
// up at its deadline. Such a message may still have been written (its
// acknowledgement did not come in time).
var ErrNotAcknowledged = errors.New("flexkafka: message not acknowledged")

// Every message a Produce call hands to the writer travels with a slot (in
// its WriterData) that records its outcome. The slot is claimed exactly
// once: by the writer's Completion callback (acknowledged or failed), or at
// the halt deadline by the sweep, which reports the message as failed. A
// late completion finds the slot claimed and changes nothing, so no message
// is counted or reported twice, and none is forgotten: the sweep reaches
// every slot not yet claimed through the producer's ledger.
//
// Claims need no atomics: completions claim under Producer.outcomes held
// shared, each its own batch's slots (kafka-go completes a message once);
// the sweep and refuse claim under it held alone.
//
// The slot of an asynchronous call's message comes from a pool, with room
// for the message: the sweep reports the message from there. Such a slot
// goes back to the pool once settled, when nothing else may touch it (see
// slots). A synchronous call's slots are in its ticket.

// slot records the outcome of one message. Its fields fit in one cache
// line, the only one of a pooled slot that its completion and the
// ledger's pass touch: the message it holds is written and cleared by the
// producing goroutines only.
type slot struct {
	settled atomic.Bool // the last write of the completion that claimed it
	claimed bool
	pooled  bool
	t       *ticket           // a synchronous call's ticket, else nil
	data    any               // the caller's WriterData
	err     error             // the outcome, written by whoever claimed the slot
	msg     *[1]kafka.Message // the message as given to the writer
}

// claim makes s's outcome err. It reports false when s already has one.
// The caller holds Producer.outcomes (see above).
func (s *slot) claim(err error) bool {
	if s.claimed {
		return false
	}
	s.claimed, s.err = true, err
	return true
}

// message returns the message of s as the caller gave it.
func (s *slot) message() kafka.Message {
	m := s.msg[0]
	m.WriterData = s.data
	return m
}

// seal makes s the slot of m, keeping the caller's WriterData.
func (s *slot) seal(m *[1]kafka.Message, t *ticket, pooled bool) {
	s.claimed, s.pooled, s.t, s.data, s.err, s.msg = false, pooled, t, m[0].WriterData, nil, m
	s.settled.Store(false)
	m[0].WriterData = s
}

// pooledSlot is a slot with room for its message, 256 bytes: the size
// class keeps it on a 64-byte boundary, so the slot is on one cache line.
type pooledSlot struct {
	s slot
	m [1]kafka.Message
	_ [256 - 56 - 152]byte
}

// Fails to compile unless a pooledSlot is 256 bytes.
var _ = [1]struct{}{}[unsafe.Sizeof(pooledSlot{})-256]

// slots recycles the slots of asynchronous calls, whose allocation, and
// cache misses, were the largest part of the producer's cost per message.
// A slot goes back to the pool only from the ledger, under its shard's
// lock, once settled: nothing else may then touch it.
//   - The completion that claimed it wrote settled last, and kafka-go
//     calls Completion once per batch: no late completion can reach a slot
//     that a completion settled.
//   - Its Produce call let go of it when it handed it to the ledger.
//   - The sweep cannot hold it: the sweep closes the ledger, after which
//     the ledger recycles nothing, and it ends every slot the ledger holds
//     then (without settling them: they are never recycled).
//
// A slot that its call refused after the sweep, or whose write kafka-go
// refused (its error may keep the message), is never recycled: the garbage
// collector takes it.
var slots = sync.Pool{New: func() any {
	ps := &pooledSlot{}
	ps.s.msg = &ps.m
	return &ps.s
}}

// recycle gives a settled pooled slot back, without the caller's message
// and WriterData.
func (s *slot) recycle() {
	s.msg[0] = kafka.Message{}
	s.t, s.data, s.err = nil, nil, nil
	slots.Put(s)
}

// handover is what one Produce call hands to the writer.
type handover struct {
	out   []kafka.Message // as given to the writer: WriterData is the slot
	slots []*slot         // nil for one message: its slot is one
	one   *slot
	t     *ticket // a synchronous call's, else nil
}

// slot returns the slot of the i-th message. (One message's slot is not
// in a slice of the handover's own: that pointer to itself would move every
// handover to the heap.)
func (h *handover) slot(i int) *slot {
	if h.slots == nil {
		return h.one
	}
	return h.slots[i]
}

// ticket tracks the messages of one synchronous Produce call.
type ticket struct {
	msgs  []kafka.Message // as given to the writer
	slots []slot
	left  atomic.Int64 // messages without an outcome

	// The caller waits on done, closed once left is zero. waiter says
	// whether the caller still waits, so that the outcome of a call that
	// stopped waiting is logged instead of being lost.
	done   chan struct{}
	waiter atomic.Uint32
}

// States of ticket.waiter.
const (
	waiting uint32 = iota // the caller waits for done
	gone                  // the caller stopped waiting (its context was done)
	served                // the outcome is the caller's
)

// oneTicket is a ticket with room for one message and its slot: a
// synchronous single-message Produce costs one allocation.
type oneTicket struct {
	t ticket
	s [1]slot
	m [1]kafka.Message
}

// fill makes d the handover of msgs, each with its slot.
func (d *handover) fill(msgs []kafka.Message, sync bool) {
	n := len(msgs)
	switch {
	case sync:
		var t *ticket
		if n == 1 {
			one := &oneTicket{}
			t = &one.t
			t.slots, t.msgs = one.s[:], one.m[:]
		} else {
			t = &ticket{slots: make([]slot, n), msgs: make([]kafka.Message, n)}
		}
		t.done = make(chan struct{})
		t.left.Store(int64(n))
		copy(t.msgs, msgs)
		d.t, d.out, d.one = t, t.msgs, &t.slots[0]
		if n > 1 {
			d.slots = make([]*slot, n)
		}
		for i := range t.msgs {
			t.slots[i].seal((*[1]kafka.Message)(t.msgs[i:]), t, false)
			if n > 1 {
				d.slots[i] = &t.slots[i]
			}
		}
	case n == 1:
		s := slots.Get().(*slot)
		s.msg[0] = msgs[0]
		s.seal(s.msg, nil, true)
		d.out, d.one = s.msg[:], s
	default:
		d.out, d.slots = make([]kafka.Message, n), make([]*slot, n)
		for i := range msgs {
			s := slots.Get().(*slot)
			s.msg[0] = msgs[i]
			s.seal(s.msg, nil, true)
			d.out[i], d.slots[i] = s.msg[0], s
		}
	}
}

// result is the outcome of a synchronous call: nil when every message was
// acknowledged.
func (t *ticket) result() error {
	var werrs kafka.WriteErrors
	failed := 0
	for i := range t.slots {
		if err := t.slots[i].err; err != nil {
			if werrs == nil {
				werrs = make(kafka.WriteErrors, len(t.slots))
			}
			werrs[i] = err
			failed++
		}
	}
	if werrs == nil {
		return nil
	}
	return &writeError{errs: werrs, failed: failed}
}

// writeError is the error of a synchronous Produce whose messages did not
// all get acknowledged. errors.As finds the kafka.WriteErrors telling
// which; errors.Is sees each message's error.
type writeError struct {
	errs   kafka.WriteErrors
	failed int
}

func (e *writeError) Error() string {
	first := e.first()
	if len(e.errs) == 1 {
		return fmt.Sprintf("flexkafka: produce: %v", first)
	}
	return fmt.Sprintf("flexkafka: produce: %d of %d messages failed: %v", e.failed, len(e.errs), first)
}

func (e *writeError) first() error {
	for _, err := range e.errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *writeError) Unwrap() []error {
	out := []error{e.errs}
	for _, err := range e.errs {
		if err != nil && !containsErr(out[1:], err) {
			out = append(out, err)
		}
	}
	return out
}

func containsErr(errs []error, err error) bool {
	for _, e := range errs {
		if e == err {
			return true
		}
	}
	return false
}

// ledger holds the slots whose messages may be in the writer without an
// outcome, for the sweep to find them. Every Produce call adds its slots,
// so the ledger is split in shards, each under its own lock. A slot is
// not removed when its message gets an outcome, which would cost the
// writer's goroutines a lock per message: a shard drops its settled slots
// (and recycles the pooled ones) when it has grown to twice what it held
// after the last such pass, so it holds at most about twice the slots still
// unsettled.
type ledger struct {
	shards [ledgerShards]shard
}

const (
	ledgerShards   = 16
	minShardLength = 64 // slots a shard holds before its first pass
)

type shard struct {
	mu    sync.Mutex
	slots []*slot
	limit int      // length that triggers the next pass
	swept error    // once set, by the sweep, no slot is added
	_     [72]byte // 128 bytes: shards on separate cache line pairs
}

// shard returns the shard of the n-th Produce call.
func (l *ledger) shard(n uint64) *shard {
	return &l.shards[n%ledgerShards]
}

// add records slots, unless the sweep happened: then it returns the
// sweep's error, and the caller ends them itself.
func (sh *shard) add(h *handover) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.swept != nil {
		return sh.swept
	}
	if len(sh.slots) >= sh.limit {
		live := sh.slots[:0]
		for _, s := range sh.slots {
			live = keep(live, s)
		}
		clear(sh.slots[len(live):]) // let the settled ones go
		sh.slots = live
		sh.limit = max(minShardLength, 2*len(live))
	}
	for i := range h.out {
		sh.slots = keep(sh.slots, h.slot(i))
	}
	return nil
}

// keep appends s to live unless it is settled; a settled pooled slot is
// recycled.
func keep(live []*slot, s *slot) []*slot {
	switch {
	case !s.settled.Load():
		return append(live, s)
	case s.pooled:
		s.recycle()
	}
	return live
}

// close hands over the slots and refuses new ones with err.
func (l *ledger) close(err error) []*slot {
	var out []*slot
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		if sh.swept == nil {
			sh.swept = err
		}
		out = append(out, sh.slots...)
		sh.slots = nil
		sh.mu.Unlock()
	}
	return out
}

// completed is the writer's Completion callback: msgs, one batch, were
// acknowledged, or failed with err. Messages already swept are skipped.
// The counters are updated before any synchronous caller is woken, so that
// its Stats agree with what Produce returned.
//
// It costs no allocation and, per message, a write to one cache line (its
// slot) past kafka-go's own: a first pass claims the slots, a second gives
// each message back its WriterData, settles its slot and, for a
// synchronous call, its ticket (consecutive messages of a ticket together).
func (p *Producer) completed(msgs []kafka.Message, err error) {
	p.outcomes.RLock()
	defer p.outcomes.RUnlock()
	settled := 0
	var skipped []int // rare: swept before this completion
	for i := range msgs {
		s, ok := msgs[i].WriterData.(*slot)
		switch {
		case !ok:
			skipped = append(skipped, i) // not written by Produce: cannot happen
		case s.claim(err):
			settled++
		default:
			// Swept before: out of the second pass, and of the report
			// (the sweep reported it).
			msgs[i].WriterData = s.data
			skipped = append(skipped, i)
		}
	}
	p.outcome(settled, err)
	var run *ticket
	n := 0
	for i := range msgs {
		s, ok := msgs[i].WriterData.(*slot)
		if !ok {
			continue
		}
		msgs[i].WriterData = s.data
		t := s.t
		s.settled.Store(true) // a pooled slot may now be recycled: s is not read again
		if t != run {
			p.settle(run, n)
			run, n = t, 0
		}
		n++
	}
	p.settle(run, n)
	if err != nil && p.cfg.async && settled > 0 {
		p.report(without(msgs, skipped), err)
	}
}

// without returns msgs but those at the indexes skip, in increasing order.
func without(msgs []kafka.Message, skip []int) []kafka.Message {
	if len(skip) == 0 {
		return msgs
	}
	out := make([]kafka.Message, 0, len(msgs)-len(skip))
	for i := range msgs {
		if len(skip) > 0 && skip[0] == i {
			skip = skip[1:]
			continue
		}
		out = append(out, msgs[i])
	}
	return out
}

// outcome counts n messages that ended with err and gives their room back.
func (p *Producer) outcome(n int, err error) {
	if n == 0 {
		return
	}
	if err == nil {
		p.acked.Add(uint64(n))
	} else {
		p.failed.Add(uint64(n))
		p.noteFailure(err)
	}
	p.buffer.give(n)
}

// settle records that n messages of the synchronous call of t have their
// outcome; the last one wakes the caller.
func (p *Producer) settle(t *ticket, n int) {
	if t == nil || n == 0 || t.left.Add(-int64(n)) > 0 {
		return
	}
	// The ledger may keep its slots a while: let the caller's keys and
	// values go. The writer has read them all (each was queued before its
	// outcome) and the sweep reads only messages without one.
	clear(t.msgs)
	if !t.waiter.CompareAndSwap(waiting, served) {
		p.logOrphan(t)
	}
	close(t.done)
}

// logOrphan logs the failures of a synchronous call that stopped waiting:
// nobody else will hear of them.
func (p *Producer) logOrphan(t *ticket) {
	failed := 0
	var first error
	for i := range t.slots {
		if err := t.slots[i].err; err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if failed > 0 {
		p.log.Error("flexkafka: write failed after its synchronous Produce stopped waiting",
			"messages", failed, "error", first)
	}
}

// report gives failed messages to the async callback, or logs them.
func (p *Producer) report(msgs []kafka.Message, err error) {
	if p.cfg.onAsyncError != nil {
		p.cfg.onAsyncError(msgs, err)
		return
	}
	p.log.Error("flexkafka: async write failed", "messages", len(msgs), "error", err)
}

// sweep ends every message still without an outcome with err, and refuses
// the slots of Produce calls still in progress. It waits for the
// completions in progress, so that when it returns every message accepted
// has been counted, and, if it failed, reported. It returns how many it
// ended.
func (p *Producer) sweep(err error) int {
	p.outcomes.Lock()
	defer p.outcomes.Unlock()
	held := p.ledger.close(err)
	// With completions held off, the counters are still: when every
	// message accepted has its outcome, no slot is left to claim, and the
	// walk (a cache miss per slot the ledger still holds) can be saved.
	// That is every Halt whose flush went through.
	if p.acked.Load()+p.failed.Load() == p.accepted.Load() {
		return 0
	}
	var ended []*slot
	for _, s := range held {
		if s.claim(err) {
			ended = append(ended, s)
		}
	}
	p.outcome(len(ended), err)
	var report []kafka.Message
	var run *ticket
	n := 0
	for _, s := range ended {
		if s.t == nil {
			report = append(report, s.message())
			if len(report) == p.cfg.batchSize {
				p.report(report, err)
				report = nil
			}
			continue
		}
		if s.t != run { // a call's slots are together in one shard
			p.settle(run, n)
			run, n = s.t, 0
		}
		n++
	}
	p.settle(run, n)
	if len(report) > 0 {
		p.report(report, err)
	}
	return len(ended)
}

// refuse ends the messages of d that the writer took after the sweep: the
// Produce call fails with err for them instead of accepting them. Those
// that a completion ended first keep that outcome (and, in async mode,
// were reported with it).
func (p *Producer) refuse(d *handover, err error) error {
	p.outcomes.Lock()
	var werrs kafka.WriteErrors
	n := 0
	for i := range d.out {
		if d.slot(i).claim(err) {
			if werrs == nil {
				werrs = make(kafka.WriteErrors, len(d.out))
			}
			werrs[i] = err
			n++
		}
	}
	p.outcome(n, err)
	p.settle(d.t, n)
	p.outcomes.Unlock()
	if d.t != nil {
		<-d.t.done
		return d.t.result()
	}
	if werrs == nil {
		return nil
	}
	return &writeError{errs: werrs, failed: n}
}
