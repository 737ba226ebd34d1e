package flexkafka

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

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

// ticket tracks the messages of one Produce call.
type ticket struct {
	msgs  []kafka.Message // as given to the writer: WriterData is the slot
	slots []slot
	left  atomic.Int64 // messages without an outcome

	// A pooled ticket (asynchronous, one message) is recycled by the
	// ledger's pass that finds it settled (see oneTickets).
	pooled bool

	// A synchronous call waits on done, closed once left is zero. waiter
	// says whether the caller still waits, so that the outcome of a call
	// that stopped waiting is logged instead of being lost.
	done   chan struct{}
	waiter atomic.Uint32
}

// States of ticket.waiter.
const (
	waiting uint32 = iota // the caller waits for done
	gone                  // the caller stopped waiting (its context was done)
	served                // the outcome is the caller's
)

type slot struct {
	t       *ticket
	i       int
	data    any // the caller's WriterData
	claimed bool
	err     error // the outcome, written by whoever claimed the slot
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
	m := s.t.msgs[s.i]
	m.WriterData = s.data
	return m
}

// oneTicket is a ticket with room for one message and its slot: a
// single-message Produce, the usual shape, costs one allocation, or none
// when asynchronous.
type oneTicket struct {
	t ticket
	s [1]slot
	m [1]kafka.Message
}

func newOneTicket() *ticket {
	one := &oneTicket{}
	t := &one.t
	t.slots, t.msgs = one.s[:], one.m[:]
	return t
}

// oneTickets recycles the tickets of asynchronous single-message calls,
// whose allocation was the largest part of the producer's cost per
// message. A ticket goes back to the pool only from the ledger's pass that
// finds it settled, under its shard's lock, and once nothing else may touch
// it:
//   - the completion that settled it touches it no more: settle reads
//     nothing of a pooled ticket after its last decrement of left, and
//     kafka-go calls Completion once per batch (no late completion can
//     reach a ticket that a completion settled);
//   - its Produce call let go of it when it added it to the ledger;
//   - the sweep cannot hold it: the sweep closes the ledger, after which
//     no pass runs, and it ends every ticket the ledger holds then.
//
// A ticket settled before its call added it, swept, refused, or whose
// write kafka-go refused (its error may keep the messages) is never
// recycled: the garbage collector takes it.
var oneTickets = sync.Pool{New: func() any { return newOneTicket() }}

// recycle gives a settled pooled ticket back, without the caller's
// messages and WriterData.
func (t *ticket) recycle() {
	clear(t.msgs)
	clear(t.slots)
	oneTickets.Put(t)
}

// newTicket returns a ticket for n messages, to be filled in t.msgs and
// then sealed.
func newTicket(n int, sync bool) *ticket {
	var t *ticket
	switch {
	case n == 1 && !sync:
		t = oneTickets.Get().(*ticket)
		t.pooled = true
	case n == 1:
		t = newOneTicket()
	default:
		t = &ticket{slots: make([]slot, n), msgs: make([]kafka.Message, n)}
	}
	if sync {
		t.done = make(chan struct{})
	}
	return t
}

// seal gives each message its slot, keeping the caller's WriterData.
func (t *ticket) seal() {
	for i := range t.msgs {
		t.slots[i] = slot{t: t, i: i, data: t.msgs[i].WriterData}
		t.msgs[i].WriterData = &t.slots[i]
	}
	t.left.Store(int64(len(t.msgs)))
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

// ledger holds the tickets whose messages may be in the writer without an
// outcome, for the sweep to find them. Every Produce call adds its ticket,
// so the ledger is split in shards, each under its own lock. A ticket is
// not removed when its last message gets an outcome, which would cost the
// writer's goroutines a lock per ticket: a shard drops its settled tickets
// when it has grown to twice what it held after the last such pass, so it
// holds at most about twice the tickets still unsettled.
type ledger struct {
	shards [ledgerShards]shard
}

const (
	ledgerShards   = 16
	minShardLength = 64 // tickets a shard holds before its first pass
)

type shard struct {
	mu      sync.Mutex
	tickets []*ticket
	limit   int      // length that triggers the next pass
	swept   error    // once set, by the sweep, no ticket is added
	_       [72]byte // 128 bytes: shards on separate cache line pairs
}

// shard returns the shard of the n-th Produce call.
func (l *ledger) shard(n uint64) *shard {
	return &l.shards[n%ledgerShards]
}

// add records t, unless the sweep happened: then it returns the sweep's
// error, and the caller settles t itself.
func (sh *shard) add(t *ticket) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.swept != nil {
		return sh.swept
	}
	if t.left.Load() == 0 {
		return nil // completions settled it already
	}
	if len(sh.tickets) >= sh.limit {
		live := sh.tickets[:0]
		for _, u := range sh.tickets {
			switch {
			case u.left.Load() > 0:
				live = append(live, u)
			case u.pooled:
				u.recycle()
			}
		}
		clear(sh.tickets[len(live):]) // let the settled ones go
		sh.tickets = live
		sh.limit = max(minShardLength, 2*len(live))
	}
	sh.tickets = append(sh.tickets, t)
	return nil
}

// close hands over the tickets and refuses new ones with err.
func (l *ledger) close(err error) []*ticket {
	var out []*ticket
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		if sh.swept == nil {
			sh.swept = err
		}
		out = append(out, sh.tickets...)
		sh.tickets = nil
		sh.mu.Unlock()
	}
	return out
}

// completed is the writer's Completion callback: msgs, one batch, were
// acknowledged, or failed with err. Messages already swept are skipped.
// The counters are updated before any synchronous caller is woken, so that
// its Stats agree with what Produce returned.
//
// It costs no allocation and, past the claims, one atomic operation per
// ticket and a few per batch: a first pass claims the slots, a second
// settles the tickets, consecutive messages of a ticket together.
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
		if s.t != run {
			p.settle(run, n)
			run, n = s.t, 0
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

// settle records that n messages of t have their outcome; the last one
// finishes t.
func (p *Producer) settle(t *ticket, n int) {
	if t == nil || n == 0 {
		return
	}
	if t.pooled {
		// Once settled, the ledger's next pass may recycle it: nothing to
		// read after this (see oneTickets). The pass clears its messages.
		t.left.Add(-int64(n))
		return
	}
	if t.left.Add(-int64(n)) > 0 {
		return
	}
	// The ledger may keep t a while: let the caller's keys and values go.
	// The writer has read them all (each was queued before its outcome)
	// and the sweep reads only messages without one.
	clear(t.msgs)
	if t.done == nil {
		return // async: each failure was reported with its batch
	}
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
// the tickets of Produce calls still in progress. It waits for the
// completions in progress, so that when it returns every message accepted
// has been counted, and, if it failed, reported. It returns how many it
// ended.
func (p *Producer) sweep(err error) int {
	p.outcomes.Lock()
	defer p.outcomes.Unlock()
	total := 0
	var report []kafka.Message
	for _, t := range p.ledger.close(err) {
		n := 0
		for i := range t.slots {
			s := &t.slots[i]
			if !s.claim(err) {
				continue
			}
			n++
			if t.done == nil {
				report = append(report, s.message())
				if len(report) == p.cfg.batchSize {
					p.report(report, err)
					report = nil
				}
			}
		}
		p.outcome(n, err)
		p.settle(t, n)
		total += n
	}
	if len(report) > 0 {
		p.report(report, err)
	}
	return total
}

// refuse ends the messages of t that the writer took after the sweep: the
// Produce call fails with err for them instead of accepting them. Those
// that a completion ended first keep that outcome (and, in async mode,
// were reported with it).
func (p *Producer) refuse(t *ticket, err error) error {
	p.outcomes.Lock()
	var werrs kafka.WriteErrors
	n := 0
	for i := range t.slots {
		if t.slots[i].claim(err) {
			if werrs == nil {
				werrs = make(kafka.WriteErrors, len(t.slots))
			}
			werrs[i] = err
			n++
		}
	}
	p.outcome(n, err)
	p.settle(t, n)
	p.outcomes.Unlock()
	if t.done != nil {
		<-t.done
		return t.result()
	}
	if werrs == nil {
		return nil
	}
	return &writeError{errs: werrs, failed: n}
}
