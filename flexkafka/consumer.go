package flexkafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// Handler handles one message. Returning nil marks the message handled:
// its offset is committed once every earlier message of its partition is
// handled too. Returning an error hands the failure to the consumer's
// middleware: by default the message is retried, holding its partition,
// until the handler succeeds (see [Retry]); an error wrapped with
// [Permanent], one the [WithPermanentFunc] classifier marks, or a panic
// is not retried but dead-lettered (see [DeadLetter]).
//
// A handler must honour ctx. It is cancelled when the message is taken
// away from the handler: at once when the partition is revoked by a
// rebalance or the consumer loses its group membership (another member
// may already be handling the same message), when [WithHandlerTimeout]
// passes, when Halt's deadline is near, and when Run's context is
// cancelled. The result of a handler that returns after its partition was
// revoked is dropped, never committed: its message is delivered again, to
// the partition's new owner. A handler that ignores ctx keeps running, but
// its side effects then race with the new owner's.
//
// Delivery is at least once, and a message can be delivered again after a
// rebalance, a crash, a halt deadline or a re-drive ([Redrive]), so
// handlers must be idempotent.
type Handler func(ctx context.Context, msg kafka.Message) error

// BatchHandler handles consecutive messages of one partition, in offset
// order, at once: a bulk insert, one transaction. Returning nil marks them
// all handled; an error fails them all, so the batch is retried whole and
// then dead-lettered whole (or the consumer stops). The trace context of
// the messages is not extracted into ctx: the handler has each message's
// headers. Otherwise it is like [Handler], and middleware wrap it.
type BatchHandler func(ctx context.Context, msgs []kafka.Message) error

// Consumer is a flex.Worker that consumes topics in a consumer group and
// hands each message to a [Handler], delivering at least once: an offset is
// committed only after the handler has succeeded for it and for every
// earlier message of its partition, and no handled message is left
// uncommitted when Halt's deadline allows committing it.
//
// Each assigned partition is consumed by its own goroutine, in order;
// different partitions are handled concurrently, up to [WithMaxInFlight]
// handler calls at once. Handled offsets are committed every
// [WithCommitInterval], when a partition is revoked, when Halt begins and
// when the consumer halts.
//
// The handler is wrapped in middleware (see [Middleware]): by default
// [Retry], and [DeadLetter] when [WithDeadLetterTopic] is given. An error
// that comes out of the middleware stops the consumer: Run returns it in a
// [*HandlerError] and the message stays uncommitted.
//
// A Consumer runs once: build a new one to consume again. Its methods are
// safe for concurrent use.
type Consumer struct {
	cfg       consumerConfig
	handle    BatchHandler // the handler, wrapped in its middleware
	batch     int          // messages per handler call
	log       *slog.Logger
	dialer    *kafka.Dialer
	transport *kafka.Transport
	client    *kafka.Client
	dlq       deadLetterWriter
	sem       chan struct{} // one token per running handler call

	ready          chan struct{} // closed on the first group join
	readyOnce      sync.Once
	stop           chan struct{} // closed by Halt or by a fatal handler error
	stopOnce       sync.Once
	cancelHandlers chan struct{} // closed when the halt deadline is near
	cancelOnce     sync.Once
	abandon        chan struct{} // closed when Halt's ctx is done or Run's ctx is cancelled
	abandonOnce    sync.Once
	done           chan struct{}  // closed when Run has returned, or can no longer start
	work           sync.WaitGroup // every goroutine of Run, handler calls included

	halted    atomic.Bool
	cancelled atomic.Int64 // handler calls that failed with their context cancelled by a halt
	running   atomic.Int64 // handler calls running now
	counters  consumerCounters
	topics    map[string]*topicCounters // fixed at construction
	retries   retryBook

	mu       sync.Mutex
	started  bool
	stopping bool              // no partition may start: Halt began
	parts    sync.WaitGroup    // partition goroutines of the current generation
	fatal    error             // the error that stopped the consumer
	haltErrs []error           // failures of the final commits and closes
	joined   bool              // member of the current generation
	joinErr  error             // why the last join failed
	current  []*partitionState // the current generation's partitions
}

// NewConsumer returns a Consumer that calls handler for every message of
// the configured topics (WithTopics or FLEX_KAFKA_TOPICS) in the group
// (WithGroupID or FLEX_KAFKA_GROUP_ID), from the brokers (WithBrokers or
// FLEX_KAFKA_BROKERS). It returns an error naming the bad value and where
// it came from when the configuration is invalid; it does not connect.
func NewConsumer(handler Handler, opts ...ConsumerOption) (*Consumer, error) {
	if handler == nil {
		return nil, errors.New("flexkafka: NewConsumer: nil handler")
	}
	cfg, err := newConsumerConfig(opts, false)
	if err != nil {
		return nil, err
	}
	prop := cfg.propagator
	return newConsumer(cfg, 1, func(ctx context.Context, msgs []kafka.Message) error {
		if prop != nil {
			ctx = prop.Extract(ctx, msgs[0].Headers)
		}
		return handler(ctx, msgs[0])
	}), nil
}

// NewBatchConsumer is like [NewConsumer] but hands the messages to handler
// in batches of consecutive messages of one partition: up to the size set
// by [WithMaxBatch] (default [DefaultMaxBatch]), collected for at most its
// timeout (default [DefaultBatchTimeout]) after the first message arrives.
// A batch's offsets are committed once the handler has succeeded for it.
func NewBatchConsumer(handler BatchHandler, opts ...ConsumerOption) (*Consumer, error) {
	if handler == nil {
		return nil, errors.New("flexkafka: NewBatchConsumer: nil handler")
	}
	cfg, err := newConsumerConfig(opts, true)
	if err != nil {
		return nil, err
	}
	return newConsumer(cfg, cfg.batchSize, handler), nil
}

func newConsumer(cfg consumerConfig, batch int, handler BatchHandler) *Consumer {
	c := &Consumer{
		cfg:            cfg,
		batch:          batch,
		log:            cfg.logger.With("worker", "kafka-consumer", "group", cfg.conn.GroupID),
		sem:            make(chan struct{}, cfg.maxInFlight),
		ready:          make(chan struct{}),
		stop:           make(chan struct{}),
		cancelHandlers: make(chan struct{}),
		abandon:        make(chan struct{}),
		done:           make(chan struct{}),
		topics:         map[string]*topicCounters{},
	}
	for _, t := range cfg.conn.Topics {
		c.topics[t] = &topicCounters{}
	}
	c.retries.entries = map[retryKey]*retryEntry{}
	c.dialer = newDialer(cfg.conn)
	c.transport = newTransport(cfg.conn)
	c.client = &kafka.Client{Addr: kafka.TCP(cfg.conn.Brokers...), Transport: c.transport, Timeout: 10 * time.Second}
	c.dlq.cfg, c.dlq.transport = cfg, c.transport
	c.handle = chain(c.middleware(), c.attempt(handler))
	return c
}

// String names the consumer after its group, as "kafka-consumer(orders)",
// in flex's logs, errors, events and health checks.
func (c *Consumer) String() string { return "kafka-consumer(" + c.cfg.conn.GroupID + ")" }

// Ready returns a channel that is closed once the consumer has joined its
// group for the first time.
func (c *Consumer) Ready() <-chan struct{} { return c.ready }

// Check reports whether the consumer is consuming right now. It fails:
//   - with an error wrapping [ErrNotJoined] before Run, while joining,
//     after a failed join (until a later join succeeds; a rebalance does
//     not count) and after Run returned;
//   - with an error wrapping [ErrRetrying] while a message is being
//     retried, naming its topic, partition, offset, attempts, since when,
//     and the last error: its partition is stalled until the handler
//     succeeds, as during a database outage, and readiness says so;
//   - with an error wrapping [ErrHandlerStuck] while a handler call has
//     run longer than [WithHandlerTimeout] (it ignores its context);
//   - when no broker answers a connection under ctx.
func (c *Consumer) Check(ctx context.Context) error {
	c.mu.Lock()
	joined, joinErr, parts := c.joined, c.joinErr, c.current
	c.mu.Unlock()
	if !joined {
		if joinErr != nil {
			return fmt.Errorf("%w: %v", ErrNotJoined, joinErr)
		}
		return ErrNotJoined
	}
	var errs []error
	for _, p := range parts {
		if since := p.busySince(); !since.IsZero() && time.Since(since) > c.cfg.handlerTimeout {
			errs = append(errs, fmt.Errorf("%w: %s/%d@%d running since %s (timeout %v)",
				ErrHandlerStuck, p.topic, p.partition, p.busyOffset.Load(), since.Format(time.RFC3339Nano), c.cfg.handlerTimeout))
		}
	}
	for _, r := range c.retries.statuses(parts) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrRetrying, r))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("flexkafka: %s: %w", c, err)
	}
	return reachable(ctx, c.dialer, c.cfg.conn.Brokers)
}

// Run joins the group and consumes until Halt, a message that the
// middleware could not handle (without a dead-letter topic: a permanent
// failure), or the cancellation of ctx. It keeps trying to join while the
// brokers are unreachable (see [Consumer.Check]).
//
// Run returns nil after a Halt that completed. It returns a
// [*HandlerError] when a message failed permanently and could not be
// dead-lettered; the other partitions are then drained and committed as
// by Halt before it returns. It returns an error wrapping
// [ErrHandlersCancelled] when Halt had to cancel or abandon handlers
// (their messages are delivered again). When ctx is cancelled, Run stops
// as if halted with an expired deadline: it cancels the handlers' context,
// does not wait for them or for the group to close (the close goes on in
// the background) and returns an error wrapping ctx.Err(). Run after Halt
// returns nil at once; a second Run returns nil at once.
func (c *Consumer) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return nil // a second Run, or Halt came first
	}
	c.started = true
	c.mu.Unlock()
	defer close(c.done)

	hctx, cancelH := context.WithCancelCause(ctx)
	defer cancelH(nil)
	go func() {
		select {
		case <-c.cancelHandlers:
			cancelH(ErrHandlersCancelled)
		case <-hctx.Done():
		}
	}()

	group, err := kafka.NewConsumerGroup(c.groupConfig())
	if err != nil {
		return fmt.Errorf("flexkafka: consumer group %q: %w", c.cfg.conn.GroupID, err)
	}
	nextCtx, cancelNext := context.WithCancel(ctx)
	defer cancelNext()
	c.work.Add(1)
	go func() {
		defer c.work.Done()
		c.drainThenLeave(nextCtx, cancelNext)
	}()
	for {
		gen, err := group.Next(nextCtx)
		if err != nil {
			if nextCtx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				break
			}
			if errors.Is(err, kafka.RebalanceInProgress) {
				// The group began another rebalance while this member
				// synced: it is still a member, and rejoins at once.
				c.log.Debug("flexkafka: rebalance in progress; rejoining", "error", err)
				continue
			}
			c.counters.errors.Add(1)
			c.setJoined(false, err)
			c.log.Warn("flexkafka: cannot join group", "error", err)
			continue
		}
		c.counters.rebalances.Add(1)
		c.setJoined(true, nil)
		c.readyOnce.Do(func() { close(c.ready) })
		c.log.Debug("flexkafka: joined group", "generation", gen.ID, "member", gen.MemberID, "assignments", gen.Assignments)
		c.startGeneration(gen, hctx)
	}

	if ctx.Err() != nil && !c.halted.Load() {
		c.abandonOnce.Do(func() { close(c.abandon) })
	}
	// Closing the group ends the generation (its partitions are drained
	// already, unless Run's context was cancelled); then the member leaves.
	c.await("consumer group close", group.Close)
	select {
	case <-c.abandon: // Run returns at once; what is left is reported below
	default:
		c.await("consumer goroutines", func() error { c.work.Wait(); return nil })
	}
	c.await("dead-letter writer close", c.dlq.close)
	c.transport.CloseIdleConnections()
	c.setJoined(false, nil)
	return c.runResult(ctx)
}

// runResult is what Run returns once it has stopped.
func (c *Consumer) runResult(ctx context.Context) error {
	c.mu.Lock()
	fatal := c.fatal
	c.mu.Unlock()
	if fatal != nil {
		return fatal
	}
	var lost []error
	select {
	case <-c.abandon:
		if n := c.running.Load(); n > 0 {
			lost = append(lost, fmt.Errorf("%w: %d still running when abandoned; their messages will be delivered again", ErrHandlersCancelled, n))
		}
	default:
	}
	if n := c.cancelled.Load(); n > 0 {
		lost = append(lost, fmt.Errorf("%w: %d did not complete; their messages will be delivered again", ErrHandlersCancelled, n))
	}
	switch {
	case ctx.Err() != nil && !c.halted.Load():
		return fmt.Errorf("flexkafka: %s: %w", c, errors.Join(append([]error{context.Cause(ctx)}, lost...)...))
	case len(lost) > 0:
		return fmt.Errorf("flexkafka: %s: %w", c, errors.Join(lost...))
	}
	return nil
}

// drainThenLeave waits for Halt (or a fatal error), lets the partitions
// of the current generation drain while the member stays in the group
// (heartbeats and periodic commits go on), then cancels ctx so that Run
// closes the group and leaves.
func (c *Consumer) drainThenLeave(ctx context.Context, leave context.CancelFunc) {
	select {
	case <-c.stop:
	case <-ctx.Done():
		return
	}
	c.mu.Lock()
	c.stopping = true // no partition starts from now on: parts only shrinks
	c.mu.Unlock()
	c.log.Debug("flexkafka: stopping; draining partitions while still a member of the group")
	drained := make(chan struct{})
	go func() { c.parts.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-c.abandon:
	case <-ctx.Done():
	}
	leave()
}

// Halt stops the consumer gracefully: it stops fetching, interrupts the
// retry waits, commits what was handled at once, lets the handlers already
// running finish while the consumer stays in its group (commits go on),
// commits every handled offset, closes the partition readers and leaves
// the group, then waits for Run to return. A message whose retry was
// interrupted stays uncommitted and is delivered again.
//
// When ctx has a deadline, the handlers still running shortly before it
// (see [WithHaltMargin]) have their context cancelled. The messages of
// those that then fail are not committed, and Halt returns an error
// wrapping [ErrHandlersCancelled]; those that return nil have handled
// their messages, which are committed.
//
// When ctx is done before all that is finished, Halt stops waiting,
// abandons what is left (the close goes on in the background and Run
// returns at once, with an error counting the handlers still running) and
// returns an error wrapping ctx.Err(). Messages handled but not yet
// committed are then delivered again, to this group's next consumer.
// Failed final commits and closes are reported in Halt's error too.
//
// Halt may be called before Run, without Run, more than once and
// concurrently; a Run after Halt returns at once. A halted Consumer cannot
// be reused.
func (c *Consumer) Halt(ctx context.Context) error {
	c.halted.Store(true)
	c.stopOnce.Do(func() { close(c.stop) })
	c.mu.Lock()
	if !c.started {
		c.started = true
		close(c.done)
	}
	c.mu.Unlock()

	var near <-chan time.Time
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		timer := time.NewTimer(left - min(c.cfg.haltMargin, left/2))
		defer timer.Stop()
		near = timer.C
	}
	for {
		select {
		case <-c.done:
			c.mu.Lock()
			errs := append([]error(nil), c.haltErrs...)
			c.mu.Unlock()
			if n := c.cancelled.Load(); n > 0 {
				errs = append(errs, fmt.Errorf("%w: %d did not complete; their messages will be delivered again", ErrHandlersCancelled, n))
			}
			if len(errs) > 0 {
				return fmt.Errorf("flexkafka: halt %s: %w", c, errors.Join(errs...))
			}
			return nil
		case <-near:
			near = nil
			c.cancelOnce.Do(func() { close(c.cancelHandlers) })
		case <-ctx.Done():
			c.cancelOnce.Do(func() { close(c.cancelHandlers) })
			c.abandonOnce.Do(func() { close(c.abandon) })
			return fmt.Errorf("flexkafka: halt %s: abandoned before the consumer closed (%d handlers still running); uncommitted messages will be delivered again: %w",
				c, c.running.Load(), ctx.Err())
		}
	}
}

// await runs fn, a close that takes no context, and waits for it until the
// consumer is abandoned, recording a failure or an abandoned close.
func (c *Consumer) await(what string, fn func() error) {
	result := make(chan error, 1)
	go func() { result <- fn() }()
	var err error
	select {
	case err = <-result:
	case <-c.abandon:
		err = errors.New("did not return before the deadline; abandoned")
	}
	if err != nil {
		c.recordHaltErr(fmt.Errorf("%s: %w", what, err))
	}
}

func (c *Consumer) recordHaltErr(err error) {
	c.log.Warn("flexkafka: "+err.Error(), "error", err)
	c.mu.Lock()
	c.haltErrs = append(c.haltErrs, err)
	c.mu.Unlock()
}

func (c *Consumer) setJoined(joined bool, err error) {
	c.mu.Lock()
	c.joined, c.joinErr = joined, err
	if !joined {
		c.current = nil
	}
	c.mu.Unlock()
}

// fail stops the consumer with err, which Run returns.
func (c *Consumer) fail(err error) {
	c.log.Error("flexkafka: stopping consumer", "error", err)
	c.mu.Lock()
	if c.fatal == nil {
		c.fatal = err
	}
	c.mu.Unlock()
	c.stopOnce.Do(func() { close(c.stop) })
}

func (c *Consumer) groupConfig() kafka.ConsumerGroupConfig {
	g := c.cfg.group // timings
	g.ID = c.cfg.conn.GroupID
	g.Brokers = c.cfg.conn.Brokers
	g.Topics = c.cfg.conn.Topics
	g.Dialer = c.dialer
	g.StartOffset = c.cfg.startOffset
	g.Logger = kafkaLogger(c.log, "kafka-go group")
	return g
}
