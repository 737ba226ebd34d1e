package flexkafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
)

// writeDeadLetters writes out through w, retrying a failed write with
// backoff until it succeeds, fails permanently (see writePermanent), or
// the delivery stops (Halt, the end of the generation) or ctx ends, which
// return the last error, marked interrupted inside a Consumer. d is nil
// outside a Consumer.
func writeDeadLetters(ctx context.Context, d *delivery, w Writer, topic string, out []kafka.Message) error {
	lo, hi := DefaultBackoffMin, DefaultBackoffMax
	var stop <-chan struct{}
	if d != nil {
		lo, hi, stop = d.c.cfg.backoffMin, d.c.cfg.backoffMax, d.stop
	}
	wctx := ctx
	for failures := 1; ; failures++ {
		err := w.WriteMessages(wctx, out...)
		if err == nil {
			return nil
		}
		if d != nil {
			d.c.counters.errors.Add(1)
		}
		if ctx.Err() != nil || isClosed(stop) {
			return interrupted(d, err)
		}
		if writePermanent(err) {
			return unwrapWriteErrors(err)
		}
		out = unwritten(out, err)
		if d != nil {
			d.c.retries.deadLetterFailed(d, topic, err)
		}
		if !wait(ctx, stop, backoff(lo, hi, failures)) {
			return interrupted(d, err)
		}
		if failures == 1 && d != nil {
			// The broker is in trouble: from now on Halt and the end of
			// the generation cancel a write in flight, rather than wait
			// for kafka-go's own attempts to end.
			var cancel context.CancelFunc
			wctx, cancel = context.WithCancel(ctx)
			defer cancel()
			defer context.AfterFunc(d.stopped, cancel)()
		}
	}
}

// interrupted marks err, the last write error, as that of writes stopped
// by Halt or the end of the generation: the message is delivered again.
func interrupted(d *delivery, err error) error {
	if d == nil {
		return err
	}
	return fmt.Errorf("%w: %w", errInterrupted, err)
}

// unwritten returns the messages of out that err, kafka-go's error for a
// write of out, says were not written: writing again those that were
// would publish their dead letters twice.
func unwritten(out []kafka.Message, err error) []kafka.Message {
	var we kafka.WriteErrors
	if !errors.As(err, &we) || len(we) != len(out) {
		return out
	}
	var left []kafka.Message
	for i, e := range we {
		if e != nil {
			left = append(left, out[i])
		}
	}
	if len(left) == 0 {
		return out
	}
	return left
}

// unwrapWriteErrors returns the errors inside kafka-go's WriteErrors,
// which has no Unwrap method, joined, so that errors.Is finds them (for
// example kafka.MessageSizeTooLarge); any other err as it is.
func unwrapWriteErrors(err error) error {
	var we kafka.WriteErrors
	if !errors.As(err, &we) {
		return err
	}
	return errors.Join(we...)
}

// writePermanent reports whether a dead-letter write error is one that
// writing again cannot heal (see DeadLetter).
func writePermanent(err error) bool {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && writePermanent(e) {
				return true
			}
		}
		return false
	}
	var tooLarge kafka.MessageTooLargeError
	if isPermanent(err) || errors.As(err, &tooLarge) || errors.Is(err, io.ErrClosedPipe) {
		return true
	}
	var code kafka.Error
	if errors.As(err, &code) {
		switch code {
		case kafka.MessageSizeTooLarge, kafka.RecordListTooLarge, kafka.InvalidTopic, kafka.InvalidRecord:
			return true
		}
	}
	return false
}

// deadLetterFailed records a failed dead-letter write of d's messages that
// will be retried: it counts the retry, makes Check and Stats report the
// message with err as its last error, and announces the first of the
// message's write retries.
func (b *retryBook) deadLetterFailed(d *delivery, topic string, err error) {
	c := d.c
	c.counters.deadLetterRetries.Add(1)
	c.topic(d.key.topic).deadLetterRetries.Add(1)
	n := d.attempts()
	now := time.Now()
	b.mu.Lock()
	e := b.entries[d.key]
	if e == nil { // the chain failed without calling the handler
		e = &retryEntry{attempts: n, since: now}
		b.entries[d.key] = e
		b.n.Store(int64(len(b.entries)))
	}
	e.lastErr = fmt.Errorf("flexkafka: dead-letter to %q failed: %w", topic, err)
	first := e.dlqSince.IsZero()
	if first {
		e.dlqSince = now
	}
	b.mu.Unlock()
	if first {
		c.log.Warn("flexkafka: dead-letter write failing; retrying until it succeeds, holding the partition",
			"topic", d.key.topic, "partition", d.key.partition, "offset", d.key.offset, "dead_letter_topic", topic, "error", err)
	}
}

// deadLetterDone forgets d's message, dead-lettered, and says so when its
// dead-letter write had to be retried.
func (b *retryBook) deadLetterDone(d *delivery, topic string) {
	if b.n.Load() == 0 {
		return
	}
	b.mu.Lock()
	e := b.entries[d.key]
	delete(b.entries, d.key)
	b.n.Store(int64(len(b.entries)))
	b.mu.Unlock()
	if e != nil && !e.dlqSince.IsZero() {
		d.c.log.Info("flexkafka: dead-letter write recovered", "topic", d.key.topic, "partition", d.key.partition, "offset", d.key.offset,
			"dead_letter_topic", topic, "retried_for", time.Since(e.dlqSince).Round(time.Millisecond))
	}
}
