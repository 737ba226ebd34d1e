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
// Produce may be called before Run, without Run and concurrently. Halt
// flushes every message accepted before it and closes the writer; Produce
// after Halt began returns [ErrProducerClosed]. A halted Producer cannot be
// reused.
type Producer struct {
	cfg       producerConfig
	log       *slog.Logger
	transport *kafka.Transport
	writer    *kafka.Writer
	dialer    *kafka.Dialer
	topic     string // default topic, may be empty

	messages, errs atomic.Uint64

	mu          sync.RWMutex
	closed      bool           // Halt began: Produce refuses new messages
	writes      sync.WaitGroup // Produce calls in progress
	haltOnce    sync.Once
	halted      chan struct{} // closed when Halt began
	flushed     chan struct{} // closed when the writer has closed
	closeErr    error         // the writer's close error, set before flushed is closed
	abandon     chan struct{} // closed when a Halt's ctx was done before the flush
	abandonOnce sync.Once
	runOnce     sync.Once
}

// NewProducer returns a Producer writing to the brokers given by
// WithBrokers or FLEX_KAFKA_BROKERS. A message that names no topic goes to
// the topic given by WithTopics, if any. It returns an error naming the bad
// value when the configuration is invalid; it does not connect.
func NewProducer(opts ...ProducerOption) (*Producer, error) {
	cfg, err := newProducerConfig(opts)
	if err != nil {
		return nil, err
	}
	p := &Producer{
		cfg:     cfg,
		log:     cfg.logger.With("worker", "kafka-producer"),
		halted:  make(chan struct{}),
		flushed: make(chan struct{}),
		abandon: make(chan struct{}),
	}
	if len(cfg.conn.Topics) == 1 {
		p.topic = cfg.conn.Topics[0]
	}
	p.transport = newTransport(cfg.conn)
	p.dialer = newDialer(cfg.conn)
	p.writer = newWriter(cfg, p.transport)
	if cfg.async {
		p.writer.Async = true
		p.writer.Completion = p.completed
	}
	return p, nil
}

// String names the producer for logs and health checks.
func (p *Producer) String() string {
	if p.topic != "" {
		return "kafka-producer:" + p.topic
	}
	return "kafka-producer"
}

// Produce writes msgs. A message with no Topic goes to the default topic;
// with a [Propagator] configured, the trace context of ctx is added to
// every message's headers. The messages are not modified.
//
// By default Produce returns once every message is acknowledged as
// configured by [WithRequiredAcks], or with the error of the write (a
// kafka.WriteErrors tells which messages failed). With [WithAsync] it
// returns once the messages are queued. Once Halt has begun it returns
// [ErrProducerClosed] and writes nothing. When ctx is cancelled, Produce
// returns ctx.Err(); messages may or may not have been written.
func (p *Producer) Produce(ctx context.Context, msgs ...kafka.Message) error {
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return ErrProducerClosed
	}
	p.writes.Add(1)
	p.mu.RUnlock()
	defer p.writes.Done()

	if len(msgs) == 0 {
		return nil
	}
	out := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		if m.Topic == "" {
			if p.topic == "" {
				return fmt.Errorf("flexkafka: produce: message %d names no topic and the producer has no default topic (WithTopics)", i)
			}
			m.Topic = p.topic
		}
		if p.cfg.propagator != nil {
			m.Headers = p.cfg.propagator.Inject(ctx, m.Headers)
		}
		out[i] = m
	}
	err := p.writer.WriteMessages(ctx, out...)
	if p.cfg.async {
		if err != nil {
			p.errs.Add(uint64(len(out)))
		}
		return err
	}
	p.count(out, err)
	return err
}

// count updates the counters after a write of msgs that ended with err.
func (p *Producer) count(msgs []kafka.Message, err error) {
	if err == nil {
		p.messages.Add(uint64(len(msgs)))
		return
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) && len(werrs) == len(msgs) {
		failed := uint64(werrs.Count())
		p.errs.Add(failed)
		p.messages.Add(uint64(len(msgs)) - failed)
		return
	}
	p.errs.Add(uint64(len(msgs)))
}

// completed is the writer's Completion callback in async mode.
func (p *Producer) completed(msgs []kafka.Message, err error) {
	p.count(msgs, err)
	if err == nil {
		return
	}
	if p.cfg.onAsyncError != nil {
		p.cfg.onAsyncError(msgs, err)
		return
	}
	p.log.Error("flexkafka: async write failed", "messages", len(msgs), "error", err)
}

// Stats returns a snapshot of the producer's counters.
func (p *Producer) Stats() ProducerStats {
	return ProducerStats{Messages: p.messages.Load(), Errors: p.errs.Load()}
}

// Check reports whether a broker accepts a connection (with TLS and SASL
// when configured) under ctx.
func (p *Producer) Check(ctx context.Context) error {
	if err := reachable(ctx, p.dialer, p.cfg.conn.Brokers); err != nil {
		return err
	}
	return nil
}

// Run blocks until the producer is halted and flushed (or its Halt gave
// up at its deadline), then returns nil; the writer needs no goroutine of
// its own. When ctx is cancelled, Run halts the producer as if with an
// expired deadline: it returns at once with an error wrapping ctx.Err(),
// and the flush goes on in the background, so queued messages may be lost.
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
		case <-p.abandon:
		}
		return nil
	case <-ctx.Done():
		expired, cancel := context.WithCancel(context.Background())
		cancel()
		_ = p.Halt(expired)
		return fmt.Errorf("flexkafka: %s: %w", p, context.Cause(ctx))
	}
}

// Halt stops accepting messages, waits for the Produce calls in progress,
// flushes every queued message and closes the writer, then lets Run
// return. When ctx is done first, Halt stops waiting and returns an error
// wrapping ctx.Err(): the writes and the close go on in the background and
// may lose the messages not yet acknowledged. Halt returns the close error
// of the writer, if any.
//
// Halt may be called before Run, without Run, more than once and
// concurrently; later calls wait like the first.
func (p *Producer) Halt(ctx context.Context) error {
	p.haltOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		close(p.halted)
		go func() {
			p.writes.Wait()
			err := p.writer.Close()
			p.transport.CloseIdleConnections()
			if err != nil {
				err = fmt.Errorf("flexkafka: halt %s: close writer: %w", p, err)
			}
			p.closeErr = err
			close(p.flushed)
		}()
	})
	select {
	case <-p.flushed:
		return p.closeErr
	case <-ctx.Done():
		p.abandonOnce.Do(func() { close(p.abandon) })
		return fmt.Errorf("flexkafka: halt %s: writes not flushed before the deadline; abandoned: %w", p, ctx.Err())
	}
}
