package flexkafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// RetryPolicy configures [Retry]. The zero value retries with the default
// backoff, without limit, every error but a permanent one.
type RetryPolicy struct {
	// BackoffMin and BackoffMax bound the exponential backoff between
	// attempts; each wait is drawn at random between half and all of
	// BackoffMin·2ⁿ, capped at BackoffMax. Zero means [DefaultBackoffMin]
	// and [DefaultBackoffMax].
	BackoffMin, BackoffMax time.Duration

	// MaxElapsed, when positive, bounds the time a message is retried,
	// from its first failure: a message still failing after it fails
	// permanently (and is dead-lettered by [DeadLetter]). Zero (the
	// default) retries until the handler succeeds.
	MaxElapsed time.Duration

	// Permanent, when not nil, classifies errors: those for which it
	// returns true are not retried. Errors wrapped with [Permanent] and
	// panics (a *flex.PanicError) are never retried, whatever it says.
	Permanent func(error) bool
}

// errInterrupted marks the error of a retry that stopped waiting because
// the partition stops (Halt, or the end of the generation): the message
// is neither handled nor failed, and is delivered again.
var errInterrupted = errors.New("flexkafka: retry interrupted: the partition is stopping; the message will be delivered again")

// Retry returns middleware that calls next again when it fails, with
// capped exponential backoff and jitter, until it succeeds: a failure is
// transient until shown to be permanent. The partition waits meanwhile,
// so the order of messages (per key) is kept and nothing after the
// failing message is committed. A permanent error (see [RetryPolicy]) is
// returned at once, after exactly one call, for an outer middleware such
// as [DeadLetter] to deal with.
//
// Inside a [Consumer], Halt and the end of the generation interrupt the
// wait between attempts at once, leaving the message uncommitted; while a
// message is retried, [Consumer.Check] fails and reports it, the log says
// when retrying starts and when the handler recovers, and
// [ConsumerStats] counts the retries. Attempts are counted per message
// across generations (see [Attempt]).
func Retry(p RetryPolicy) Middleware {
	if p.BackoffMin <= 0 {
		p.BackoffMin = DefaultBackoffMin
	}
	if p.BackoffMax <= 0 {
		p.BackoffMax = max(DefaultBackoffMax, p.BackoffMin)
	}
	return func(next BatchHandler) BatchHandler {
		return func(ctx context.Context, msgs []kafka.Message) error {
			d := deliveryFrom(ctx)
			var calls int
			var since time.Time
			for {
				err := next(ctx, msgs)
				calls++
				if err == nil {
					if d != nil {
						d.c.retries.recovered(d)
					}
					return nil
				}
				if p.permanent(err) || ctx.Err() != nil {
					return err
				}
				attempts := calls
				if d != nil {
					attempts, since = d.c.retries.state(d)
				} else if since.IsZero() {
					since = time.Now()
				}
				if p.MaxElapsed > 0 && time.Since(since) >= p.MaxElapsed {
					return Permanent(fmt.Errorf("flexkafka: gave up after retrying for %v (%d attempts): %w", p.MaxElapsed, attempts, err))
				}
				var stop <-chan struct{}
				if d != nil {
					d.c.retries.retrying(d, err)
					stop = d.stop
				}
				if !wait(ctx, stop, backoff(p.BackoffMin, p.BackoffMax, attempts)) {
					return fmt.Errorf("%w: %w", errInterrupted, err)
				}
			}
		}
	}
}

func (p RetryPolicy) permanent(err error) bool {
	return isPermanent(err) || p.Permanent != nil && p.Permanent(err)
}

// wait waits for d, and reports whether it did: false when ctx is done or
// stop is closed first.
func wait(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
	case <-stop:
	}
	return false
}

// backoff returns the wait after the given failed attempt: exponential from
// lo, capped at hi, with "equal jitter" (half fixed, half random) so that
// partitions failing together do not retry in lockstep.
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}

// RetryStatus describes a message being retried, for [Consumer.Check] and
// [ConsumerStats].
type RetryStatus struct {
	Topic     string
	Partition int
	Offset    int64     // the message's offset; for a batch, its first message's
	Attempts  int       // handler calls so far, across generations
	Since     time.Time // when the message first failed
	LastError error     // the handler's last error, or the last dead-letter write error (see [DeadLetter])
}

// String gives every field, for logs and readiness reports.
func (s RetryStatus) String() string {
	return fmt.Sprintf("%s/%d@%d retrying since %s (%d attempts): %v",
		s.Topic, s.Partition, s.Offset, s.Since.Format(time.RFC3339), s.Attempts, s.LastError)
}

// retryBook keeps the attempts of failing messages across generations,
// within this process, and the retrying state that Check reports.
type retryBook struct {
	n       atomic.Int64 // len(entries): zero, the common case, needs no lock
	mu      sync.Mutex
	entries map[retryKey]*retryEntry
}

type retryKey struct {
	topic     string
	partition int
	offset    int64
}

type retryEntry struct {
	attempts int
	since    time.Time // first failure
	lastErr  error
	retrying bool      // a retry episode was announced
	dlqSince time.Time // the first failed dead-letter write retried; zero: none
}

// attempts returns the handler calls recorded for key.
func (b *retryBook) attempts(key retryKey) int {
	if b.n.Load() == 0 {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.entries[key]; e != nil {
		return e.attempts
	}
	return 0
}

// failed records a failed handler call of d.
func (b *retryBook) failed(d *delivery, err error) {
	n := d.attempts()
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[d.key]
	if e == nil {
		e = &retryEntry{since: time.Now()}
		b.entries[d.key] = e
		b.n.Store(int64(len(b.entries)))
	}
	e.attempts, e.lastErr = n, err
}

// state returns the attempts of d's message and when it first failed.
func (b *retryBook) state(d *delivery) (int, time.Time) {
	n := d.attempts()
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.entries[d.key]; e != nil {
		return n, e.since
	}
	return n, time.Now()
}

// retrying counts a retry of d's message and announces the first.
func (b *retryBook) retrying(d *delivery, err error) {
	c := d.c
	c.counters.retries.Add(1)
	c.topic(d.key.topic).retries.Add(1)
	b.mu.Lock()
	e := b.entries[d.key]
	first := e != nil && !e.retrying
	if first {
		e.retrying = true
	}
	b.mu.Unlock()
	if first {
		c.log.Warn("flexkafka: handler failing; retrying until it succeeds, holding the partition",
			"topic", d.key.topic, "partition", d.key.partition, "offset", d.key.offset, "error", err)
	}
}

// recovered ends a retry episode of d's message, if any, and says so.
func (b *retryBook) recovered(d *delivery) {
	if b.n.Load() == 0 {
		return
	}
	b.mu.Lock()
	e := b.entries[d.key]
	delete(b.entries, d.key)
	b.n.Store(int64(len(b.entries)))
	b.mu.Unlock()
	if e != nil && e.retrying {
		d.c.log.Info("flexkafka: handler recovered", "topic", d.key.topic, "partition", d.key.partition, "offset", d.key.offset,
			"attempts", d.attempts(), "retried_for", time.Since(e.since).Round(time.Millisecond))
	}
}

// done forgets key: its message is handled or dead-lettered.
func (b *retryBook) done(key retryKey) {
	if b.n.Load() == 0 {
		return
	}
	b.mu.Lock()
	delete(b.entries, key)
	b.n.Store(int64(len(b.entries)))
	b.mu.Unlock()
}

// forget drops the entries of partitions not in parts: another member
// owns them now.
func (b *retryBook) forget(parts []*partitionState) {
	held := map[partitionKey]bool{}
	for _, p := range parts {
		held[partitionKey{p.topic, p.partition}] = true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.entries {
		if !held[partitionKey{k.topic, k.partition}] {
			delete(b.entries, k)
		}
	}
	b.n.Store(int64(len(b.entries)))
}

type partitionKey struct {
	topic     string
	partition int
}

// statuses returns the messages being retried on parts.
func (b *retryBook) statuses(parts []*partitionState) []RetryStatus {
	held := map[partitionKey]bool{}
	for _, p := range parts {
		held[partitionKey{p.topic, p.partition}] = true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []RetryStatus
	for k, e := range b.entries {
		if (e.retrying || !e.dlqSince.IsZero()) && held[partitionKey{k.topic, k.partition}] {
			out = append(out, RetryStatus{Topic: k.topic, Partition: k.partition, Offset: k.offset,
				Attempts: e.attempts, Since: e.since, LastError: e.lastErr})
		}
	}
	slices.SortFunc(out, func(a, b RetryStatus) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	return out
}
