package flexkafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/segmentio/kafka-go"
)

// Producer is a flex.Worker that writes messages with a kafka.Writer
// whose defaults are chosen not to lose them: every write waits for all
// in-sync replicas (kafka.RequireAll), batches wait at most
// [DefaultBatchTimeout] so that a synchronous write is not held for a
// second, and a message's key always maps to the same partition
// (kafka.CRC32Balancer, as librdkafka).
//
// Every message Produce accepts ends in exactly one of two ways:
// acknowledged by the brokers, or failed with an error that is returned to
// the synchronous caller or, under [WithAsync], given to the error callback.
// It holds whatever the halt deadline: when Halt gives up, the messages
// still without an outcome fail with [ErrNotAcknowledged]. The messages held
// without an outcome are bounded by [WithMaxBuffered].
//
// Produce may be called before Run, without Run and concurrently. Halt
// flushes every message accepted before it and closes the writer; Produce
// after Halt began returns [ErrProducerClosed]. A halted Producer cannot be
// reused.
type Producer struct {
	cfg       producerConfig
	log       *slog.Logger
	transport *kafka.Transport
	gate      *gate
	writer    *kafka.Writer
	dialer    *kafka.Dialer
	topic     string // default topic, may be empty

	// What each Produce call writes, in one front (see front).
	writes   *calls // Produce calls handing messages to the writer; refused once Halt began
	accepted *atomic.Uint64
	buffer   *buffer

	// Outcomes. Every message counted in accepted ends in acked or failed;
	// the ledger finds those still without one. Completions write acked or
	// failed: on lines of their own, that Produce calls do not read.
	_             [64]byte
	acked, failed atomic.Uint64
	_             [64]byte
	ledger        ledger
	outcomes      sync.RWMutex // held shared by completions, alone by the sweep

	haltOnce     sync.Once
	halted       chan struct{}         // closed when Halt began
	failedAtHalt atomic.Uint64         // failed when Halt began
	firstErr     atomic.Pointer[error] // the first failure after Halt began
	flushed      chan struct{}         // closed when the writer has closed
	abandonOnce  sync.Once
	abandoned    chan struct{} // closed when a Halt's deadline came before the flush
	abandonErr   error         // the deadline's error, set before abandoned is closed
	resultOnce   sync.Once
	result       error // what Halt returns, fixed by the first Halt to return
	runOnce      sync.Once
}

// NewProducer returns a Producer writing to the brokers given by
// WithBrokers or FLEX_KAFKA_BROKERS. A message that names no topic goes to
// the topic given by WithTopics, if any. It holds at most
// [DefaultMaxBuffered] messages without an outcome unless
// [WithMaxBuffered] or [EnvProducerMaxBuffered] says otherwise. It returns
// an error naming the bad value when the configuration is invalid; it does
// not connect.
func NewProducer(opts ...ProducerOption) (*Producer, error) {
	cfg, err := newProducerConfig(opts)
	if err != nil {
		return nil, err
	}
	f := &front{
		writes: calls{idle: &idle{ch: make(chan struct{})}},
		buffer: buffer{max: int64(cfg.maxBuffered), by: cfg.maxBufferedBy, block: !cfg.nonBlocking},
	}
	p := &Producer{
		cfg:       cfg,
		log:       cfg.logger.With("worker", "kafka-producer"),
		writes:    &f.writes,
		accepted:  &f.accepted,
		buffer:    &f.buffer,
		halted:    make(chan struct{}),
		flushed:   make(chan struct{}),
		abandoned: make(chan struct{}),
	}
	if len(cfg.conn.Topics) == 1 {
		p.topic = cfg.conn.Topics[0]
	}
	p.transport = newTransport(cfg.conn)
	p.gate = newGate(p.transport)
	p.dialer = newDialer(cfg.conn)
	p.writer = newWriter(cfg, p.gate)
	// The writer is always asynchronous: a synchronous Produce waits for
	// its own messages' outcomes, so that a message is never in the writer
	// without the producer knowing whether it was accepted.
	p.writer.Async = true
	p.writer.Completion = p.completed
	return p, nil
}

// String names the producer after its default topic, as
// "kafka-producer(orders)", or "kafka-producer()" without one, in flex's
// logs, errors, events and health checks.
func (p *Producer) String() string { return "kafka-producer(" + p.topic + ")" }

// Produce writes msgs. A message with no Topic goes to the default topic;
// with a [Propagator] configured, the trace context of ctx is added to
// every message's headers. The messages are not modified, but the writer
// holds their keys, values and headers until each has its outcome: the
// caller must not modify those byte slices before then. Produce may be
// called concurrently, before Run and without Run.
//
// Produce writes nothing, and counts nothing in [ProducerStats], when it
// returns [ErrProducerClosed] (Halt has begun), ctx.Err() (ctx was done on
// entry), an error naming a message without a topic, or an error about the
// bound of [WithMaxBuffered]: it takes room for msgs there first, waiting
// until room frees up, ctx is done (an error wrapping ctx.Err()) or Halt
// begins ([ErrProducerClosed]); under [WithNonBlocking] it fails at once with
// [ErrBufferFull] instead of waiting.
//
// By default Produce then waits until every message is acknowledged as
// configured by [WithRequiredAcks], and returns nil, or until each has an
// outcome and some failed: the error then tells which through a
// kafka.WriteErrors (errors.As), and errors.Is sees each message's error,
// such as [ErrNotAcknowledged] for those still unanswered when Halt gave
// up. When ctx is done first, Produce stops waiting and returns an error
// wrapping ctx.Err(). Its messages are not failed for that: they stay in
// the producer until they are acknowledged or fail, as [ProducerStats]
// shows, a failure of theirs is logged, and Halt flushes them. A caller
// that writes them again may so write them twice.
//
// With [WithAsync], Produce returns once the writer has queued the
// messages. Nil means they are accepted: each will be acknowledged or given
// to the error callback, exactly once. An error means none was accepted,
// with one exception: a call still in progress when Halt gave up fails
// with a kafka.WriteErrors naming those of its messages that failed with
// [ErrNotAcknowledged]; the others were acknowledged or given to the
// callback before.
func (p *Producer) Produce(ctx context.Context, msgs ...kafka.Message) error {
	t, err := p.submit(ctx, msgs)
	if err != nil || t == nil {
		return err // async, or not accepted
	}
	select {
	case <-t.done:
	case <-ctx.Done():
		if t.waiter.CompareAndSwap(waiting, gone) {
			return fmt.Errorf("flexkafka: produce: stopped waiting for %d messages to be acknowledged; they may still be written: %w",
				len(t.slots), ctx.Err())
		}
		<-t.done // the outcome came meanwhile
	}
	return t.result()
}

// submit hands msgs to the writer and returns the ticket of a
// synchronous call, or the error that kept them from being accepted.
func (p *Producer) submit(ctx context.Context, msgs []kafka.Message) (*ticket, error) {
	if !p.writes.enter() {
		return nil, ErrProducerClosed
	}
	defer p.writes.leave()

	if len(msgs) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err // the writer would queue them all the same
	}
	if p.topic == "" {
		for i := range msgs {
			if msgs[i].Topic == "" {
				return nil, fmt.Errorf("flexkafka: produce: message %d names no topic and the producer has no default topic (WithTopics)", i)
			}
		}
	}
	if err := p.buffer.take(ctx, len(msgs), p.halted); err != nil {
		return nil, err
	}
	var d handover
	d.fill(msgs, !p.cfg.async)
	for i := range d.out {
		p.prepare(ctx, &d.out[i], d.slot(i))
	}
	// The count of messages accepted picks the ledger's shard: Produce
	// writes it anyway, and consecutive calls get different shards.
	sh := p.ledger.shard(p.accepted.Add(uint64(len(d.out))))
	// The writer is asynchronous: it fails only before queueing anything
	// (unknown topic, message too large, metadata lookup cut short by ctx).
	if err := p.writer.WriteMessages(ctx, d.out...); err != nil {
		p.failed.Add(uint64(len(d.out)))
		p.noteFailure(err)
		p.buffer.give(len(d.out))
		return nil, fmt.Errorf("flexkafka: produce: %w", err)
	}
	// Once the ledger has them, pooled slots may be recycled at any time.
	if err := sh.add(&d); err != nil {
		return nil, p.refuse(&d, err)
	}
	return d.t, nil
}

// prepare gives m, the message of s, the default topic and the trace
// context of ctx. The slot keeps its own copy when the writer's is another.
func (p *Producer) prepare(ctx context.Context, m *kafka.Message, s *slot) {
	if m.Topic == "" {
		m.Topic = p.topic
	}
	if p.cfg.propagator != nil {
		m.Headers = p.cfg.propagator.Inject(ctx, m.Headers)
	}
	if &s.msg[0] != m {
		s.msg[0].Topic, s.msg[0].Headers = m.Topic, m.Headers
	}
}

// noteFailure keeps the first failure after Halt began, for its error.
func (p *Producer) noteFailure(err error) {
	if p.firstErr.Load() == nil && isClosed(p.halted) {
		p.firstErr.CompareAndSwap(nil, &err)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Stats returns a snapshot of the producer's counters. It is safe to call
// at any time, from any goroutine.
func (p *Producer) Stats() ProducerStats {
	// Outcomes are read before accepted: a message is accepted before it
	// has one, so Buffered is never negative.
	acked, failed := p.acked.Load(), p.failed.Load()
	accepted := p.accepted.Load()
	return ProducerStats{Messages: acked, Errors: failed, Accepted: accepted, Buffered: accepted - acked - failed}
}

// Check reports whether a broker accepts a connection (with TLS and SASL
// when configured) under ctx.
func (p *Producer) Check(ctx context.Context) error {
	if err := reachable(ctx, p.dialer, p.cfg.conn.Brokers); err != nil {
		return err
	}
	return nil
}

// Run blocks until the producer is halted and flushed, or its Halt gave up
// at its deadline, then returns nil; the writer needs no goroutine of its
// own. When ctx is done, Run halts the producer as if with an expired
// deadline and returns at once with an error wrapping ctx.Err(): the
// messages without an outcome fail with [ErrNotAcknowledged], as Halt says.
// A second Run returns nil at once; Run may be called concurrently with
// Halt, and after it.
func (p *Producer) Run(ctx context.Context) error {
	first := false
	p.runOnce.Do(func() { first = true })
	if !first {
		return nil
	}
	select {
	case <-p.halted:
		select {
		case <-p.flushed:
		case <-p.abandoned:
		}
		return nil
	case <-ctx.Done():
		expired, cancel := context.WithCancel(context.Background())
		cancel()
		err := fmt.Errorf("flexkafka: %s: %w", p, context.Cause(ctx))
		if herr := p.Halt(expired); errors.Is(herr, ErrNotAcknowledged) {
			err = errors.Join(err, herr)
		}
		return err
	}
}

// Halt stops accepting messages (Produce returns [ErrProducerClosed], and
// calls waiting for room give up), waits for the Produce calls handing
// messages to the writer, flushes every message accepted and closes the
// writer, then lets Run return.
//
// Halt returns nil when every message accepted was acknowledged. When some
// failed after Halt began, during the flush or in synchronous calls, it
// returns an error wrapping [ErrNotAcknowledged] and the first write error,
// and counting them: "flexkafka: halt kafka-producer(orders): 3 messages not
// acknowledged: ...". (Failures before Halt began were returned or reported
// then, and are not counted.)
//
// When ctx is done before the flush ends, Halt gives up: every message
// still without an outcome fails with an error wrapping [ErrNotAcknowledged]
// and ctx.Err(), given to the [WithAsync] callback or returned by its
// synchronous Produce. Such a message may still have been written; its late
// acknowledgement is ignored. The writer, cut off from the brokers, then
// fails what it still holds and closes in the background without retrying.
// Halt returns an error wrapping ctx.Err(), and [ErrNotAcknowledged] with
// the count of messages not acknowledged when there were any.
//
// Whether it gives up or not, when Halt returns every accepted message has
// its outcome, counted in [ProducerStats], and every failure has been given
// to the callback: Halt waits for callbacks in progress.
//
// Halt may be called before Run, without Run, more than once and
// concurrently; later calls wait for the flush like the first, or give up
// at their own deadline, and every call returns the same error.
func (p *Producer) Halt(ctx context.Context) error {
	p.haltOnce.Do(p.beginHalt)
	if !isClosed(p.flushed) {
		select {
		case <-p.flushed:
		case <-ctx.Done():
			p.abandon(ctx.Err())
		}
	}
	p.resultOnce.Do(func() { p.result = p.haltResult() })
	return p.result
}

// beginHalt refuses new messages and starts the flush.
func (p *Producer) beginHalt() {
	p.writes.close()
	p.failedAtHalt.Store(p.failed.Load())
	close(p.halted)
	go func() {
		<-p.writes.idle.ch
		p.writer.Close() // always nil: failures come through completed
		// kafka-go's Close flushes every batch and waits for its
		// completion; should it drop one, its messages still end here.
		p.sweep(fmt.Errorf("%w: the writer closed without a result", ErrNotAcknowledged))
		p.transport.CloseIdleConnections()
		close(p.flushed)
	}()
}

// abandon gives up the flush at the deadline: it cuts the writer off and
// fails every message without an outcome.
func (p *Producer) abandon(cause error) {
	p.abandonOnce.Do(func() {
		if isClosed(p.flushed) {
			return
		}
		p.abandonErr = cause
		p.sweep(fmt.Errorf("%w before the halt deadline: %w", ErrNotAcknowledged, cause))
		// Only now: the gate cancels the writes in flight, whose failures
		// must not win over the sweep's report.
		p.gate.stop()
		close(p.abandoned)
	})
}

// haltResult is the error of Halt, from the state after the flush or the
// sweep: every accepted message then has its outcome.
func (p *Producer) haltResult() error {
	var first error
	if e := p.firstErr.Load(); e != nil {
		first = *e
	}
	n := p.failed.Load() - p.failedAtHalt.Load()
	abandoned := isClosed(p.abandoned)
	switch {
	case n == 0 && !abandoned:
		return nil
	case n == 0:
		return fmt.Errorf("flexkafka: halt %s: writer not closed before the deadline; abandoned: %w", p, p.abandonErr)
	}
	e := &haltError{worker: p.String(), n: n, first: first}
	if abandoned {
		e.deadline = p.abandonErr
	}
	return e
}

// haltError is the error of Halt when messages were not acknowledged.
type haltError struct {
	worker   string
	n        uint64
	deadline error // the context's error when Halt gave up, else nil
	first    error // the first write error after Halt began
}

func (e *haltError) Error() string {
	noun := "messages"
	if e.n == 1 {
		noun = "message"
	}
	msg := fmt.Sprintf("flexkafka: halt %s: %d %s not acknowledged", e.worker, e.n, noun)
	if e.deadline != nil {
		msg += fmt.Sprintf(": abandoned at the deadline (%v)", e.deadline)
	}
	if e.first != nil && (e.deadline == nil || !errors.Is(e.first, e.deadline)) {
		msg += fmt.Sprintf(": %v", e.first)
	}
	return msg
}

func (e *haltError) Unwrap() []error {
	errs := []error{ErrNotAcknowledged}
	for _, err := range []error{e.deadline, e.first} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
