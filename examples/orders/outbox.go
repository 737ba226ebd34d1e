package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

// relayBatch is how many outbox rows the relay publishes in one write.
const relayBatch = 100

// relay is the worker that publishes the outbox to Kafka: as soon as a
// transaction of this process commits rows to the outbox (its store's
// doorbell rings), and every interval in case another process wrote them,
// it reads the unsent rows, oldest first, writes them with the producer,
// which waits for every in-sync replica to acknowledge them, and only then
// marks them sent. A row whose write fails, or whose mark is lost, is
// published again: delivery is at least once, and the consumers are
// idempotent.
//
// Several replicas may publish the same row twice; that is a duplicate,
// never a loss. A row that can never be published (its topic was deleted)
// holds back the rows after it: orders_outbox_failures_total rising is the
// alert.
//
// A relay is a flex.Worker that runs once. Its methods are safe for
// concurrent use.
type relay struct {
	store    *store
	producer *flexkafka.Producer
	interval time.Duration
	log      *slog.Logger

	wake   *pgWake // PostgreSQL: wakes and is woken by other replicas; nil without
	passes passLog // the passes started and published, for wake's announcements

	published atomic.Uint64 // rows published, for the metrics
	failures  atomic.Uint64 // failed passes, for the metrics
	failing   atomic.Bool   // the last pass failed

	ready chan struct{} // closed when Run starts
	stop  chan struct{} // closed by the first Halt
	done  chan struct{} // closed when Run returns

	mu     sync.Mutex
	cancel context.CancelFunc // cancels Run's context; nil until Run
}

func newRelay(s *store, p *flexkafka.Producer, interval time.Duration, log *slog.Logger) *relay {
	return &relay{store: s, producer: p, interval: interval, log: log,
		ready: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
}

// String names the relay in flex's logs and metrics.
func (r *relay) String() string { return "outbox-relay" }

// Ready returns a channel closed once Run has started. It implements
// flex.Readier.
func (r *relay) Ready() <-chan struct{} { return r.ready }

// Run publishes the outbox when rows are committed, and every interval,
// until halted. Commits during a pass ring once for the next pass, which
// publishes them together, in batches of up to relayBatch rows. Halting publishes
// what is left one last time: the rows written by the consumers, which are
// halted before the relay, while the producer, halted after it, still runs.
// Run returns nil once halted, at once after an earlier Halt, and the
// error of ctx when ctx is cancelled. A second Run returns nil at once.
func (r *relay) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.cancel != nil || isClosed(r.stop) {
		r.mu.Unlock()
		return nil // run already, or halted before running
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.mu.Unlock()
	close(r.ready)
	defer close(r.done)
	defer r.cancel()

	// On PostgreSQL, announce this replica's commits to the others and
	// listen for theirs, until Run returns.
	var remote, announce *doorbell
	if r.wake != nil {
		remote, announce = newDoorbell(), newDoorbell()
		wakeCtx, stopWake := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { r.wake.announce(wakeCtx, announce.rung(), &r.passes) })
		wg.Go(func() { r.wake.listen(wakeCtx, remote) })
		defer wg.Wait()
		defer stopWake()
	}

	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			if err := r.publishAll(ctx); err != nil {
				r.log.Warn("orders: outbox rows left for the next start", "error", err)
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-r.store.outboxWritten.rung():
			pass := r.passes.start()
			announce.ring()
			if !r.publishPass(ctx, pass) {
				// Announced while this pass held the rows, they were
				// skipped by the others: announce them again, now that
				// the failed pass has let them go. Only for this
				// replica's commits, so that two failing replicas do not
				// wake each other in turn.
				announce.ring()
			}
		case <-remote.rung():
			r.publishPass(ctx, r.passes.start())
		case <-tick.C:
			r.publishPass(ctx, r.passes.start())
		}
	}
}

// Halt asks Run to publish the outbox one last time and return, and waits
// for it until ctx is done. Then it cancels Run's context, abandoning the
// last pass (its rows stay in the outbox for the next start), and returns
// an error wrapping ctx.Err(). Halt is safe before Run (Run then returns
// at once), without Run, concurrently and more than once.
func (r *relay) Halt(ctx context.Context) error {
	r.mu.Lock()
	if !isClosed(r.stop) {
		close(r.stop)
	}
	cancelRun := r.cancel
	r.mu.Unlock()
	if cancelRun == nil {
		return nil // Run will return at once
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		cancelRun()
		return fmt.Errorf("orders: outbox relay: last publish abandoned: %w", ctx.Err())
	}
}

// publishPass publishes the outbox as pass (see passLog), records it
// published if it emptied the outbox, and reports whether it did.
func (r *relay) publishPass(ctx context.Context, pass uint64) bool {
	if r.publishAll(ctx) != nil {
		return false
	}
	r.passes.publish(pass)
	return true
}

// publishAll publishes batches until the outbox is empty or a pass fails.
// It logs when the relay starts failing and when it recovers, not every
// failed pass.
func (r *relay) publishAll(ctx context.Context) error {
	for {
		n, err := r.publish(ctx)
		if err != nil {
			r.failures.Add(1)
			if !r.failing.Swap(true) {
				r.log.Error("orders: outbox relay failing, will retry", "error", err)
			}
			return err
		}
		if r.failing.Swap(false) {
			r.log.Info("orders: outbox relay recovered")
		}
		if n < relayBatch {
			return nil
		}
	}
}

// publish publishes one batch of pending rows and returns how many.
func (r *relay) publish(ctx context.Context) (int, error) {
	n, err := r.store.claimOutbox(ctx, relayBatch, func(rows []outboxRow) error {
		msgs := make([]kafka.Message, len(rows))
		for i, row := range rows {
			msgs[i] = kafka.Message{Topic: row.topic, Key: []byte(row.key), Value: row.payload}
		}
		if err := r.producer.Produce(ctx, msgs...); err != nil {
			return fmt.Errorf("orders: publish %d outbox rows: %w", len(msgs), err)
		}
		return nil
	})
	r.published.Add(uint64(n))
	return n, err
}

// passLog numbers the relay's passes, so that the announcer can tell
// whether the rows of a commit were published by this replica: a pass
// that starts after a commit, and empties the outbox without failing, has
// published its rows. Its methods are safe for concurrent use; a nil
// *passLog has published nothing.
type passLog struct {
	started   atomic.Uint64 // the last pass started, numbered from 1
	published atomic.Uint64 // the last pass that emptied the outbox
}

// start numbers a new pass. The relay starts one pass at a time.
func (p *passLog) start() uint64 { return p.started.Add(1) }

// publish records that pass, the last started, emptied the outbox.
func (p *passLog) publish(pass uint64) { p.published.Store(pass) }

// mark returns the last pass started: once it is published, the rows of
// every commit rung before it started are.
func (p *passLog) mark() uint64 {
	if p == nil {
		return 0
	}
	return p.started.Load()
}

// covered reports whether the pass mark, or a later one, emptied the
// outbox. Pass 0 is none: a commit rung before any pass is not covered.
func (p *passLog) covered(mark uint64) bool {
	return p != nil && mark > 0 && p.published.Load() >= mark
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
