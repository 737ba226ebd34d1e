package flexkafka

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/segmentio/kafka-go"
)

// fetchBackoffMax caps the wait between failed fetches of a partition.
const fetchBackoffMax = 5 * time.Second

// consumePartition runs as one goroutine of the generation: it fetches the
// partition's messages in order and dispatches them until the generation
// ends or Halt stops it, then commits what was handled.
//
// A failed fetch is counted and logged and the fetch is tried again after
// a backoff, in the same generation: one partition's broker trouble does
// not end the membership of the others.
func (c *Consumer) consumePartition(g *generation, p *partitionState) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:         c.cfg.conn.Brokers,
		Topic:           p.topic,
		Partition:       p.partition,
		Dialer:          c.dialer,
		QueueCapacity:   c.cfg.queueSize,
		MaxWait:         c.cfg.fetchMaxWait,
		ReadLagInterval: -1,
		Logger:          kafkaLogger(c.log, "kafka-go reader"),
	})
	defer c.await(fmt.Sprintf("reader close %s/%d", p.topic, p.partition), r.Close)
	defer c.finalCommit(g, p)
	// SetOffset fails only on a closed reader, which this one is not; a
	// failure is still counted and stops the partition (nothing fetched,
	// nothing lost: its messages stay uncommitted).
	if err := r.SetOffset(p.start); err != nil {
		c.counters.errors.Add(1)
		c.log.Error("flexkafka: cannot set offset; partition not consumed in this generation", "topic", p.topic, "partition", p.partition, "offset", p.start, "error", err)
		return
	}
	// One context per partition, under the generation's: the handler
	// calls' contexts hang off it rather than off one shared by every
	// partition, whose lock they would contend for.
	pctx, cancel := context.WithCancel(g.hctx)
	defer cancel()
	failures := 0
	for g.stopped.Err() == nil {
		msg, err := r.FetchMessage(g.stopped)
		if err != nil {
			if g.stopped.Err() != nil {
				return
			}
			failures++
			c.fetchFailed(g, p, err, failures)
			continue
		}
		p.position.CompareAndSwap(-1, msg.Offset)
		msgs, fillErr := c.fill(g.stopped, r, msg)
		last := msgs[len(msgs)-1]
		p.hwm.Store(last.HighWaterMark)
		if !c.dispatch(pctx, g, p, msgs) {
			return
		}
		p.handled.Store(last.Offset + 1)
		if c.cfg.commitInterval == 0 {
			if err := c.commit(g, p); err != nil {
				c.log.Warn("flexkafka: commit failed; will retry", "error", err)
			}
		}
		if fillErr != nil {
			failures++
			c.fetchFailed(g, p, fillErr, failures)
			continue
		}
		failures = 0
	}
}

// fetchFailed counts and logs a failed fetch, then waits before the next.
func (c *Consumer) fetchFailed(g *generation, p *partitionState, err error, failures int) {
	c.counters.errors.Add(1)
	c.log.Warn("flexkafka: fetch failed; retrying", "topic", p.topic, "partition", p.partition, "failures", failures, "error", err)
	sleep(g.stopped, nil, backoff(c.cfg.backoffMin, fetchBackoffMax, failures))
}

// finalCommit commits what the partition handled when it stops.
func (c *Consumer) finalCommit(g *generation, p *partitionState) {
	if err := c.commit(g, p); err != nil {
		if c.halted.Load() {
			c.recordHaltErr(err)
		} else {
			c.log.Warn("flexkafka: final commit failed; handled messages will be delivered again", "error", err)
		}
	}
}

// fill returns a batch beginning with first: more messages of the
// partition already fetched or arriving within the batch timeout, up to the
// batch size. A batch consumer only; a single-message consumer gets first.
// A fetch error ends the batch and is returned with it, to be reported
// after the batch is handled.
func (c *Consumer) fill(stopped context.Context, r *kafka.Reader, first kafka.Message) ([]kafka.Message, error) {
	msgs := []kafka.Message{first}
	if c.batch <= 1 {
		return msgs, nil
	}
	ctx, cancel := context.WithTimeout(stopped, c.cfg.batchTimeout)
	defer cancel()
	for len(msgs) < c.batch {
		// A message the reader holds stays queued when ctx expires, so
		// nothing fetched is dropped.
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return msgs, nil // the batch timeout, or stopping
			}
			return msgs, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// dispatch calls the handler chain with msgs and reports whether they may
// be committed; false means the partition must stop.
//
// When the generation ends during the call, the handler's context is
// cancelled at once (see generation); when the call returns after the
// revoke grace (see revokeGrace), its result is dropped: a handler that
// outlives its partition can never commit.
func (c *Consumer) dispatch(pctx context.Context, g *generation, p *partitionState, msgs []kafka.Message) bool {
	select {
	case c.sem <- struct{}{}:
	case <-g.stopped.Done():
		return false // not started, so not in flight
	}
	d := c.newDelivery(g, p, msgs)
	c.running.Add(1)
	err := c.call(withDelivery(pctx, d), msgs)
	c.running.Add(-1)
	<-c.sem
	if g.isDropped() {
		c.log.Warn("flexkafka: handler returned after its partition was revoked; result dropped",
			"topic", p.topic, "partition", p.partition, "offset", msgs[0].Offset, "error", err)
		return false
	}
	return c.settle(g, d, err)
}

// revokeGrace is how long the handlers of a revoked partition have to
// return, their context cancelled, for their results to count: the
// handler timeout, capped at a third of the session timeout so that the
// final commits land while the member is still in the group (kafka-go
// stops heartbeating when a generation ends).
func (c *Consumer) revokeGrace() time.Duration {
	return min(c.cfg.handlerTimeout, c.cfg.session/3)
}

// call calls the handler chain, turning a panic in a middleware into an
// error (the handler's own panics are caught closer to it; see attempt).
func (c *Consumer) call(ctx context.Context, msgs []kafka.Message) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &flex.PanicError{Worker: c.String(), Op: "middleware", Value: v, Stack: debug.Stack()}
		}
	}()
	return c.handle(ctx, msgs)
}

// settle decides what a handler chain's result means for the partition:
// nil is committed; an error while the handler was being stopped leaves the
// message uncommitted, to be delivered again; any other error stops the
// consumer.
func (c *Consumer) settle(g *generation, d *delivery, err error) bool {
	msgs := d.msgs
	if err == nil {
		d.mu.Lock()
		handled := len(msgs) - min(d.dead, len(msgs))
		d.mu.Unlock()
		if handled > 0 {
			c.counters.messages.Add(uint64(handled))
			c.topic(d.p.topic).messages.Add(uint64(handled))
		}
		c.retries.done(d.key)
		return true
	}
	if errors.Is(err, errInterrupted) || g.hctx.Err() != nil {
		if errors.Is(context.Cause(g.hctx), ErrHandlersCancelled) {
			c.cancelled.Add(1)
		}
		return false
	}
	msg := msgs[0]
	c.fail(&HandlerError{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset, Attempts: d.attempts(), Err: err})
	return false
}

// sleep waits for d and reports whether it did, false when a or b is done
// first. b may be nil.
func sleep(a, b context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	var bDone <-chan struct{}
	if b != nil {
		bDone = b.Done()
	}
	select {
	case <-timer.C:
		return true
	case <-a.Done():
	case <-bDone:
	}
	return false
}
