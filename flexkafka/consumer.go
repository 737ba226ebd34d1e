package flexkafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// Handler handles one message. Returning nil marks the message handled:
// its offset is committed once every earlier message of its partition is
// handled too. Returning an error makes the consumer retry it, then apply
// its failure policy (see [WithDeadLetterTopic]); wrap the error with
// [Permanent] to skip the retries. A panic counts as an error.
//
// ctx is cancelled when the message is abandoned: when Halt's deadline is
// near or Run's context is cancelled. It is not cancelled by a rebalance: a
// handler running when its partition is revoked is allowed to finish.
type Handler func(ctx context.Context, msg kafka.Message) error

// BatchHandler handles consecutive messages of one partition, in offset
// order, at once: a bulk insert, one transaction. Returning nil marks them
// all handled; an error fails them all, so the batch is retried whole and
// then each of its messages is dead-lettered (or the consumer stops). The
// trace context of the messages is not extracted into ctx: the handler has
// each message's headers. Otherwise it is like [Handler].
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
// [WithCommitInterval], when a partition is revoked and when the consumer
// halts.
//
// A Consumer runs once: build a new one to consume again. Its methods are
// safe for concurrent use.
type Consumer struct {
	cfg       consumerConfig
	handle    BatchHandler // the handler, as a batch handler
	batch     int          // messages per handler call
	log       *slog.Logger
	dialer    *kafka.Dialer
	transport *kafka.Transport
	client    *kafka.Client
	dlq       *kafka.Writer // nil without a dead-letter topic
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
	work           sync.WaitGroup // goroutines of Run that the group does not wait for

	halted    atomic.Bool
	abandoned atomic.Int64 // handler calls that failed with their context cancelled
	counters  consumerCounters

	mu       sync.Mutex
	started  bool
	fatal    error             // the error that stopped the consumer
	haltErrs []error           // failures of the final commits and closes
	joined   bool              // member of the current generation
	joinErr  error             // why the last join failed
	parts    []*partitionState // the current generation's partitions
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
// by [WithMaxBatch] (default [DefaultMaxBatch]), collected for at most its timeout (default
// [DefaultBatchTimeout]) after the first message arrives. A batch's
// offsets are committed once the handler has succeeded for it.
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

func newConsumer(cfg consumerConfig, batch int, handle BatchHandler) *Consumer {
	c := &Consumer{
		cfg:            cfg,
		handle:         handle,
		batch:          batch,
		log:            cfg.logger.With("worker", "kafka-consumer", "group", cfg.conn.GroupID),
		sem:            make(chan struct{}, cfg.maxInFlight),
		ready:          make(chan struct{}),
		stop:           make(chan struct{}),
		cancelHandlers: make(chan struct{}),
		abandon:        make(chan struct{}),
		done:           make(chan struct{}),
	}
	c.dialer = newDialer(cfg.conn)
	c.transport = newTransport(cfg.conn)
	c.client = &kafka.Client{Addr: kafka.TCP(cfg.conn.Brokers...), Transport: c.transport, Timeout: 10 * time.Second}
	if cfg.deadLetterTopic != "" {
		c.dlq = newDeadLetterWriter(cfg, c.transport)
	}
	return c
}

// String names the consumer after its group, for logs and health checks.
func (c *Consumer) String() string { return "kafka-consumer:" + c.cfg.conn.GroupID }

// Ready returns a channel that is closed once the consumer has joined its
// group for the first time.
func (c *Consumer) Ready() <-chan struct{} { return c.ready }

// Check reports whether the consumer can consume right now: it has joined
// its group (a failed join makes it fail until a later join succeeds; a
// rebalance does not) and a broker answers a metadata request under ctx.
// It returns an error wrapping [ErrNotJoined] before Run, while joining and
// after Run returned.
func (c *Consumer) Check(ctx context.Context) error {
	c.mu.Lock()
	joined, joinErr := c.joined, c.joinErr
	c.mu.Unlock()
	if !joined {
		if joinErr != nil {
			return fmt.Errorf("%w: %v", ErrNotJoined, joinErr)
		}
		return ErrNotJoined
	}
	if err := reachable(ctx, c.dialer, c.cfg.conn.Brokers); err != nil {
		return err
	}
	return nil
}

// Run joins the group and consumes until Halt, a message that fails every
// attempt without a dead-letter topic, or the cancellation of ctx. It
// keeps trying to join while the brokers are unreachable (see
// [Consumer.Check]).
//
// Run returns nil after Halt. It returns a [*HandlerError] when a message
// failed every attempt and could not be dead-lettered; the other
// partitions are then drained and committed as by Halt before it returns.
// When ctx is cancelled, Run stops as if halted with an expired deadline:
// it cancels the handlers' context, does not wait for the group to close
// (the close goes on in the background) and returns an error wrapping
// ctx.Err(). Run after Halt returns nil at once; a second Run returns nil
// at once.
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
	go func() {
		select {
		case <-c.stop:
			cancelNext()
		case <-nextCtx.Done():
		}
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
		if nextCtx.Err() == nil {
			c.startGeneration(gen, nextCtx, hctx)
		}
	}

	if ctx.Err() != nil && !c.halted.Load() {
		c.abandonOnce.Do(func() { close(c.abandon) })
	}
	// Closing the group ends the generation: every partition goroutine
	// finishes its handler, commits and returns; then the member leaves.
	c.await("consumer group close", group.Close)
	// The group waits for the generation's goroutines, but not for one
	// started after the generation ended, nor for the watermark lookup.
	select {
	case <-c.abandon: // already reported
	default:
		c.await("consumer goroutines", func() error { c.work.Wait(); return nil })
	}
	if c.dlq != nil {
		c.await("dead-letter writer close", c.dlq.Close)
	}
	c.transport.CloseIdleConnections()
	c.setJoined(false, nil)

	c.mu.Lock()
	fatal := c.fatal
	c.mu.Unlock()
	switch {
	case fatal != nil:
		return fatal
	case c.halted.Load():
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("flexkafka: %s: %w", c, context.Cause(ctx))
	}
	return nil
}

// Halt stops the consumer gracefully: it stops fetching, lets the handlers
// already running finish, commits every handled offset, closes the
// partition readers and leaves the group, then waits for Run to return.
// When ctx has a deadline, the handlers still running shortly before it
// (see [WithHaltMargin]) have their context cancelled. The messages of
// those that then fail are not committed, and Halt returns an error
// wrapping [ErrHandlersCancelled]; those that return nil have handled
// their messages, which are committed.
//
// When ctx is done before all that is finished, Halt stops waiting,
// abandons what is left (the close goes on in the background and Run
// returns at once) and returns an error wrapping ctx.Err(). Messages
// handled but not yet committed are then delivered again, to this group's
// next consumer. Failed final commits and closes are reported in Halt's
// error too.
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
			select {
			case <-c.cancelHandlers:
				if n := c.abandoned.Load(); n > 0 {
					errs = append(errs, fmt.Errorf("%w: %d did not complete; their messages will be delivered again", ErrHandlersCancelled, n))
				}
			default:
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
			return fmt.Errorf("flexkafka: halt %s: abandoned before the consumer closed; uncommitted messages will be delivered again: %w", c, ctx.Err())
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
		c.parts = nil
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

// generation is one group generation as seen by the consumer.
type generation struct {
	gen   *kafka.Generation
	parts []*partitionState
	mu    sync.Mutex // serialises commits
}

// startGeneration starts the goroutines of gen. stopCtx is done when Run
// is stopping; hctx is the handlers' context.
func (c *Consumer) startGeneration(gen *kafka.Generation, stopCtx, hctx context.Context) {
	g := &generation{gen: gen}
	for topic, assigned := range gen.Assignments {
		for _, pa := range assigned {
			g.parts = append(g.parts, newPartitionState(topic, pa.ID, pa.Offset))
		}
	}
	c.mu.Lock()
	c.parts = g.parts
	c.mu.Unlock()
	if len(g.parts) == 0 {
		return
	}
	// Every goroutine is counted in c.work so that Run can wait for it:
	// gen.Start runs fn untracked when the generation has already ended.
	c.work.Add(1)
	go func() {
		defer c.work.Done()
		c.seedHighWaterMarks(stopCtx, g.parts)
	}()
	for _, p := range g.parts {
		c.work.Add(1)
		gen.Start(func(ctx context.Context) {
			defer c.work.Done()
			c.consumePartition(ctx, hctx, g, p)
		})
	}
	if c.cfg.commitInterval > 0 {
		// Started with gen.Start so that the generation waits for it; it
		// returns only when the generation ends.
		c.work.Add(1)
		gen.Start(func(ctx context.Context) {
			defer c.work.Done()
			ticker := time.NewTicker(c.cfg.commitInterval)
			defer ticker.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-ticker.C:
					if err := c.commit(g, g.parts...); err != nil {
						c.log.Warn("flexkafka: commit failed; will retry", "error", err)
					}
				}
			}
		})
	}
}

// commit commits the handled offsets of parts that are not committed yet.
func (c *Consumer) commit(g *generation, parts ...*partitionState) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	offsets := map[string]map[int]int64{}
	var pending []*partitionState
	for _, p := range parts {
		if h := p.handled.Load(); h >= 0 && h > p.committed.Load() {
			if offsets[p.topic] == nil {
				offsets[p.topic] = map[int]int64{}
			}
			offsets[p.topic][p.partition] = h
			pending = append(pending, p)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	if err := g.gen.CommitOffsets(offsets); err != nil {
		c.counters.errors.Add(1)
		return fmt.Errorf("flexkafka: commit %v for group %q generation %d: %w", offsets, c.cfg.conn.GroupID, g.gen.ID, err)
	}
	c.counters.commits.Add(1)
	for _, p := range pending {
		p.committed.Store(offsets[p.topic][p.partition])
	}
	return nil
}

// seedHighWaterMarks looks up the partitions' high watermarks, so that lag
// is known before the first message is fetched (or when none comes). It
// gives up when ctx is done.
func (c *Consumer) seedHighWaterMarks(ctx context.Context, parts []*partitionState) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	byKey := map[string]*partitionState{}
	for _, p := range parts {
		req.Topics[p.topic] = append(req.Topics[p.topic], kafka.LastOffsetOf(p.partition))
		byKey[p.topic+"/"+strconv.Itoa(p.partition)] = p
	}
	resp, err := c.client.ListOffsets(ctx, req)
	if err != nil {
		c.log.Debug("flexkafka: cannot look up high watermarks", "error", err)
		return
	}
	for topic, offsets := range resp.Topics {
		for _, o := range offsets {
			if p := byKey[topic+"/"+strconv.Itoa(o.Partition)]; p != nil && o.Error == nil {
				p.hwm.CompareAndSwap(-1, o.LastOffset)
			}
		}
	}
}

// consumePartition runs as one goroutine of the generation: it fetches the
// partition's messages in order and handles them until the generation ends
// (a rebalance, Halt or a fatal error), then commits what it handled.
func (c *Consumer) consumePartition(genCtx, hctx context.Context, g *generation, p *partitionState) {
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
	if err := r.SetOffset(p.start); err != nil {
		c.log.Warn("flexkafka: cannot set offset", "topic", p.topic, "partition", p.partition, "offset", p.start, "error", err)
		return
	}
	for {
		msg, err := r.FetchMessage(genCtx)
		if err != nil {
			if genCtx.Err() == nil {
				c.counters.errors.Add(1)
				c.log.Warn("flexkafka: fetch failed; rejoining the group", "topic", p.topic, "partition", p.partition, "error", err)
				sleep(genCtx, nil, time.Second)
			}
			break
		}
		p.position.CompareAndSwap(-1, msg.Offset)
		msgs := c.fill(genCtx, r, msg)
		last := msgs[len(msgs)-1]
		p.hwm.Store(last.HighWaterMark)
		if !c.process(genCtx, hctx, msgs) {
			break
		}
		p.handled.Store(last.Offset + 1)
		if c.cfg.commitInterval == 0 {
			if err := c.commit(g, p); err != nil {
				c.log.Warn("flexkafka: commit failed; will retry", "error", err)
			}
		}
	}
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
func (c *Consumer) fill(genCtx context.Context, r *kafka.Reader, first kafka.Message) []kafka.Message {
	msgs := []kafka.Message{first}
	if c.batch <= 1 {
		return msgs
	}
	ctx, cancel := context.WithTimeout(genCtx, c.cfg.batchTimeout)
	defer cancel()
	for len(msgs) < c.batch {
		// A message the reader holds stays queued when ctx expires, so
		// nothing fetched is dropped.
		m, err := r.FetchMessage(ctx)
		if err != nil {
			break
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// process handles msgs (one message, or a batch of one partition) with
// retries and the failure policy. It reports whether msgs may be
// committed; false means the partition must stop.
func (c *Consumer) process(genCtx, hctx context.Context, msgs []kafka.Message) bool {
	ctx := hctx
	msg := msgs[0] // named in logs and errors
	var err error
	attempt := 0
	for {
		if genCtx.Err() != nil {
			return false // revoked or halting: not started, so not in flight
		}
		select {
		case c.sem <- struct{}{}:
		case <-genCtx.Done():
			return false
		}
		attempt++
		err = c.call(ctx, msgs)
		<-c.sem
		if err == nil {
			c.counters.messages.Add(uint64(len(msgs)))
			return true
		}
		c.counters.errors.Add(1)
		if hctx.Err() != nil {
			c.abandoned.Add(1)
			return false // abandoned: delivered again later
		}
		if attempt >= c.cfg.maxAttempts || isPermanent(err) {
			break
		}
		c.counters.retries.Add(1)
		c.log.Warn("flexkafka: handler failed; retrying", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "attempt", attempt, "error", err)
		if !sleep(genCtx, hctx, c.backoff(attempt)) {
			return false
		}
	}
	if c.dlq == nil {
		c.fail(&HandlerError{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset, Attempts: attempt, Err: err})
		return false
	}
	if dlqErr := c.deadLetter(hctx, msgs, err, attempt); dlqErr != nil {
		if hctx.Err() != nil {
			c.abandoned.Add(1)
			return false
		}
		c.fail(&HandlerError{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset, Attempts: attempt,
			Err: fmt.Errorf("dead-letter to %q failed: %w (handler error: %w)", c.cfg.deadLetterTopic, dlqErr, err)})
		return false
	}
	c.counters.deadLettered.Add(uint64(len(msgs)))
	c.log.Warn("flexkafka: dead-lettered", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "messages", len(msgs), "attempts", attempt, "dead_letter_topic", c.cfg.deadLetterTopic, "error", err)
	return true
}

// call calls the handler, turning a panic into a *PanicError.
func (c *Consumer) call(ctx context.Context, msgs []kafka.Message) (err error) {
	msg := msgs[0]
	defer func() {
		if v := recover(); v != nil {
			stack := debug.Stack()
			err = &PanicError{Value: v, Stack: stack}
			c.log.Error("flexkafka: handler panicked", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "panic", fmt.Sprint(v), "stack", string(stack))
		}
	}()
	return c.handle(ctx, msgs)
}

// backoff returns the wait after the given failed attempt: exponential from
// backoffMin, capped at backoffMax, with "equal jitter" (half fixed, half
// random) so that partitions failing together do not retry in lockstep.
func (c *Consumer) backoff(attempt int) time.Duration {
	d := c.cfg.backoffMin
	for i := 1; i < attempt && d < c.cfg.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.cfg.backoffMax)
	return d/2 + rand.N(d/2+1)
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

// Headers added to a dead-lettered message, after the original headers.
const (
	HeaderDLQTopic     = "flexkafka-dlq-topic"     // the topic the message came from
	HeaderDLQPartition = "flexkafka-dlq-partition" // its partition, in decimal
	HeaderDLQOffset    = "flexkafka-dlq-offset"    // its offset, in decimal
	HeaderDLQError     = "flexkafka-dlq-error"     // the handler's last error
	HeaderDLQAttempts  = "flexkafka-dlq-attempts"  // how many times it was handled, in decimal
)

func (c *Consumer) deadLetter(ctx context.Context, msgs []kafka.Message, cause error, attempts int) error {
	out := make([]kafka.Message, len(msgs))
	for i, msg := range msgs {
		headers := make([]kafka.Header, 0, len(msg.Headers)+5)
		headers = append(headers, msg.Headers...)
		headers = append(headers,
			kafka.Header{Key: HeaderDLQTopic, Value: []byte(msg.Topic)},
			kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(msg.Partition))},
			kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(msg.Offset, 10))},
			kafka.Header{Key: HeaderDLQError, Value: []byte(cause.Error())},
			kafka.Header{Key: HeaderDLQAttempts, Value: []byte(strconv.Itoa(attempts))},
		)
		out[i] = kafka.Message{Topic: c.cfg.deadLetterTopic, Key: msg.Key, Value: msg.Value, Headers: headers}
	}
	return c.dlq.WriteMessages(ctx, out...)
}

// newDeadLetterWriter returns the synchronous writer of dead letters. It
// waits for all in-sync replicas: a dead letter is committed past, so it
// must not be lost.
func newDeadLetterWriter(cfg consumerConfig, transport *kafka.Transport) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(cfg.conn.Brokers...),
		Transport:    transport,
		Balancer:     kafka.CRC32Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    cfg.batchSize,
		BatchTimeout: DefaultBatchTimeout,
		MaxAttempts:  10,
		Logger:       kafkaLogger(cfg.logger, "kafka-go writer"),
	}
}
