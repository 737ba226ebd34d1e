package flexkafka

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// generation is one group generation as seen by the consumer.
//
// Its partitions run in goroutines of the consumer, not of kafka-go's
// generation, because kafka-go ends a generation as soon as one of its
// goroutines returns: a partition draining during Halt must not end the
// membership of the others. One goroutine registered with kafka-go (the
// watcher) ties the two: when kafka-go ends the generation (a rebalance,
// a failed heartbeat, the group's close), the watcher cancels the
// handlers at once and holds kafka-go's rejoin or leave until every
// partition has made its final commit, or the revoke grace has passed;
// then it drops the generation: nothing commits through it any more, so a
// handler that outlives its membership can never commit.
type generation struct {
	gen     *kafka.Generation
	parts   []*partitionState
	mu      sync.Mutex  // serialises commits
	dropped atomic.Bool // no commit any more: the watcher gave up on the partitions; set under mu

	ended   context.Context // done when kafka-go ended the generation
	hctx    context.Context // the handlers' context: Run's, the halt margin, the end of the generation
	stopped context.Context // done when partitions must stop fetching and retrying: the end, or Halt
	wg      sync.WaitGroup  // partitions and the committer
}

// startGeneration starts the goroutines of gen. hctx is the handlers'
// context of Run.
func (c *Consumer) startGeneration(gen *kafka.Generation, hctx context.Context) {
	g := &generation{gen: gen}
	for topic, assigned := range gen.Assignments {
		for _, pa := range assigned {
			g.parts = append(g.parts, newPartitionState(topic, pa.ID, pa.Offset))
		}
	}
	c.retries.forget(g.parts)
	ended, end := context.WithCancel(context.Background())
	handlers, cancelHandlers := context.WithCancelCause(hctx)
	stopped, stop := context.WithCancel(ended)
	g.ended, g.hctx, g.stopped = ended, handlers, stopped

	c.mu.Lock()
	c.current = g.parts
	if c.stopping || len(g.parts) == 0 {
		c.mu.Unlock()
		end()
		stop()
		cancelHandlers(ErrRevoked)
		return
	}
	c.parts.Add(len(g.parts))
	c.mu.Unlock()
	g.wg.Add(len(g.parts) + 1) // before the watcher may wait: partitions and the committer

	c.work.Add(1)
	gen.Start(func(genCtx context.Context) {
		defer c.work.Done()
		select {
		case <-genCtx.Done():
		case <-c.abandon:
		}
		end()
		cancelHandlers(ErrRevoked)
		c.awaitPartitions(g)
		g.mu.Lock() // orders the drop with the commits
		g.dropped.Store(true)
		g.mu.Unlock()
	})
	c.work.Add(1)
	go func() {
		defer c.work.Done()
		select {
		case <-c.stop:
		case <-ended.Done():
		}
		stop()
	}()
	c.work.Add(1)
	go func() {
		defer c.work.Done()
		c.seedHighWaterMarks(stopped, g.parts)
	}()
	for _, p := range g.parts {
		c.work.Add(1)
		go func() {
			defer c.work.Done()
			defer g.wg.Done()
			defer c.parts.Done()
			c.consumePartition(g, p)
		}()
	}
	c.work.Add(1)
	go func() {
		defer c.work.Done()
		defer g.wg.Done()
		c.commitLoop(g)
	}()
}

// awaitPartitions waits for the partitions and the committer of g to
// return, for at most the revoke grace, and not once the consumer is
// abandoned.
func (c *Consumer) awaitPartitions(g *generation) {
	done := make(chan struct{})
	c.work.Add(1)
	go func() {
		defer c.work.Done()
		g.wg.Wait()
		close(done)
	}()
	grace := time.NewTimer(c.revokeGrace())
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
	case <-c.abandon:
	}
}

func (g *generation) isDropped() bool { return g.dropped.Load() }

// commitLoop commits the generation's handled offsets every commit
// interval, and at once when Halt begins (a stuck handler must not hold
// back what its partition handled before it), until the generation ends.
func (c *Consumer) commitLoop(g *generation) {
	var tick <-chan time.Time
	if c.cfg.commitInterval > 0 {
		ticker := time.NewTicker(c.cfg.commitInterval)
		defer ticker.Stop()
		tick = ticker.C
	}
	stop := c.stop
	for {
		select {
		case <-g.ended.Done():
			return
		case <-stop:
			stop = nil
		case <-tick:
		}
		if err := c.commit(g, g.parts...); err != nil {
			c.log.Warn("flexkafka: commit failed; will retry", "error", err)
		}
		c.reportStuck(g)
	}
}

// reportStuck logs, once per call, the handler calls running past the
// handler timeout: they ignore their context and stall their partition.
// (Check reports them too, at once; the log may lag by a commit interval.)
func (c *Consumer) reportStuck(g *generation) {
	for _, p := range g.parts {
		if since := p.busySince(); !since.IsZero() && time.Since(since) > c.cfg.handlerTimeout && !p.stuck.Swap(true) {
			c.log.Error("flexkafka: handler stuck past its timeout, ignoring its context; its partition is stalled",
				"topic", p.topic, "partition", p.partition, "offset", p.busyOffset.Load(), "since", since, "timeout", c.cfg.handlerTimeout)
		}
	}
}

// commit commits the handled offsets of parts that are not committed yet.
func (c *Consumer) commit(g *generation, parts ...*partitionState) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dropped.Load() {
		return nil // a handler that outlived its membership; its dispatch says so
	}
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
