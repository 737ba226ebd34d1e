package flexkafka

import (
	"cmp"
	"slices"
	"sync/atomic"
	"time"
)

// ConsumerStats is a snapshot of a [Consumer]'s counters and of the
// partitions it holds. The counters are monotonic, from the Consumer's
// creation, unlike kafka-go's Stats which reset on every read, so they map
// directly onto metrics counters.
type ConsumerStats struct {
	Messages          uint64 // messages handled successfully
	Errors            uint64 // failed handler calls and dead-letter writes, and fetch, join and commit errors
	Retries           uint64 // handler calls repeated after a failure
	DeadLettered      uint64 // messages published to a dead-letter topic
	DeadLetterRetries uint64 // dead-letter writes repeated after a failure (see [DeadLetter])
	Rebalances        uint64 // group generations joined, the first one included
	Commits           uint64 // successful offset commits

	// Topics has the message, retry, dead-letter and dead-letter retry
	// counters of each consumed topic.
	Topics map[string]TopicStats

	// Partitions are those assigned in the current generation, by topic and
	// partition. Empty while the consumer holds none.
	Partitions []PartitionStats

	// Retrying lists the messages being retried on the partitions held
	// now, by topic and partition; [Consumer.Check] fails while it is not
	// empty.
	Retrying []RetryStatus
}

// TopicStats are the monotonic counters of one consumed topic.
type TopicStats struct {
	Messages          uint64 // messages handled successfully
	Retries           uint64 // handler calls repeated after a failure
	DeadLettered      uint64 // messages published to a dead-letter topic
	DeadLetterRetries uint64 // dead-letter writes repeated after a failure (see [DeadLetter])
}

// PartitionStats describes one assigned partition.
type PartitionStats struct {
	Topic     string
	Partition int

	// Committed is the group's committed offset: the next message to
	// handle. -1 while unknown (the group never committed it and no
	// message has been fetched yet).
	Committed int64

	// HighWaterMark is the offset after the last message in the partition,
	// as of the latest fetch or offset lookup; -1 while unknown.
	HighWaterMark int64

	// Lag is HighWaterMark minus Committed: the messages not yet handled
	// and committed. -1 while either is unknown.
	Lag int64
}

// ProducerStats is a snapshot of a [Producer]'s counters. All but Buffered
// are monotonic, from the Producer's creation. Every message accepted ends
// counted in Messages or in Errors, and Accepted = Messages + Errors +
// Buffered.
type ProducerStats struct {
	Messages uint64 // messages acknowledged by the brokers
	Errors   uint64 // messages whose write failed: returned by Produce, given to the WithAsync callback, or left unacknowledged at the halt deadline

	// Accepted counts the messages Produce handed to the writer: all those
	// of calls not refused before writing (halted, context done, no topic,
	// no room).
	Accepted uint64

	// Buffered is how many accepted messages have no outcome yet, now: at
	// most the bound of WithMaxBuffered.
	Buffered uint64
}

type consumerCounters struct {
	messages, errors, retries, deadLettered, deadLetterRetries, rebalances, commits atomic.Uint64
}

type topicCounters struct {
	messages, retries, deadLettered, deadLetterRetries atomic.Uint64
}

// topic returns the counters of a consumed topic.
func (c *Consumer) topic(name string) *topicCounters {
	if t := c.topics[name]; t != nil {
		return t
	}
	return &topicCounters{} // not a consumed topic: not counted
}

// partitionState is the consumer's view of one assigned partition.
type partitionState struct {
	topic      string
	partition  int
	start      int64        // offset given by the assignment: committed, or First/LastOffset
	committed  atomic.Int64 // next offset committed to the group; -1 unknown
	handled    atomic.Int64 // next offset after the last handled message; -1 none
	position   atomic.Int64 // offset of the first fetched message; -1 none
	hwm        atomic.Int64 // high watermark; -1 unknown
	busy       atomic.Int64 // when the running handler call began, in Unix nanoseconds; 0 idle
	busyOffset atomic.Int64 // the offset the running handler call handles
	stuck      atomic.Bool  // the running call was reported stuck
}

func (p *partitionState) setBusy(offset int64) {
	p.busyOffset.Store(offset)
	p.busy.Store(time.Now().UnixNano())
}

// setIdle marks the handler call over and reports whether it was
// reported stuck.
func (p *partitionState) setIdle() (wasStuck bool) {
	p.busy.Store(0)
	return p.stuck.Swap(false)
}

// busySince returns when the running handler call began; zero when idle.
func (p *partitionState) busySince() time.Time {
	if n := p.busy.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

func newPartitionState(topic string, partition int, start int64) *partitionState {
	p := &partitionState{topic: topic, partition: partition, start: start}
	p.committed.Store(max(start, -1))
	p.handled.Store(-1)
	p.position.Store(-1)
	p.hwm.Store(-1)
	return p
}

func (p *partitionState) stats() PartitionStats {
	s := PartitionStats{Topic: p.topic, Partition: p.partition, Committed: p.committed.Load(), HighWaterMark: p.hwm.Load(), Lag: -1}
	if s.Committed < 0 {
		s.Committed = p.position.Load() // nothing committed yet: we start here
	}
	if s.Committed >= 0 && s.HighWaterMark >= 0 {
		s.Lag = max(s.HighWaterMark-s.Committed, 0)
	}
	return s
}

// Stats returns a snapshot of the consumer's counters and partitions. It is
// safe to call at any time, from any goroutine.
func (c *Consumer) Stats() ConsumerStats {
	s := ConsumerStats{
		Messages:          c.counters.messages.Load(),
		Errors:            c.counters.errors.Load(),
		Retries:           c.counters.retries.Load(),
		DeadLettered:      c.counters.deadLettered.Load(),
		DeadLetterRetries: c.counters.deadLetterRetries.Load(),
		Rebalances:        c.counters.rebalances.Load(),
		Commits:           c.counters.commits.Load(),
	}
	s.Topics = make(map[string]TopicStats, len(c.topics))
	for name, t := range c.topics {
		s.Topics[name] = TopicStats{Messages: t.messages.Load(), Retries: t.retries.Load(), DeadLettered: t.deadLettered.Load(),
			DeadLetterRetries: t.deadLetterRetries.Load()}
	}
	c.mu.Lock()
	parts := c.current
	c.mu.Unlock()
	for _, p := range parts {
		s.Partitions = append(s.Partitions, p.stats())
	}
	slices.SortFunc(s.Partitions, func(a, b PartitionStats) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	s.Retrying = c.retries.statuses(parts)
	return s
}
