package flexkafka

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Defaults of a Consumer, chosen for I/O-bound handlers and for losing
// nothing.
const (
	// DefaultMaxInFlight bounds how many handler calls run at once, across
	// all partitions. Messages of one partition are always handled in order,
	// one at a time, so the effective concurrency is also bounded by the
	// number of partitions assigned.
	DefaultMaxInFlight = 64

	// DefaultQueueSize is how many fetched messages each partition buffers
	// ahead of its handler.
	DefaultQueueSize = 100

	// DefaultCommitInterval is how often handled offsets are committed while
	// running. Offsets are also committed when a partition is revoked and
	// when the consumer halts.
	DefaultCommitInterval = time.Second

	// DefaultBackoffMin and DefaultBackoffMax bound the exponential backoff,
	// with jitter, between attempts. A failing message is retried until it
	// succeeds unless [WithMaxRetryTime] sets a limit.
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second

	// DefaultHandlerTimeout bounds each handler call: its context is
	// cancelled after it, and a call still running is reported by the log
	// and by [Consumer.Check]. It is half of kafka-go's default session
	// timeout; when [WithGroupTimings] sets a shorter session, the default
	// is half of that session instead.
	DefaultHandlerTimeout = 15 * time.Second

	// DefaultHaltMargin is how long before the halt deadline the context of
	// handlers still running is cancelled, leaving time to commit and close.
	// It is capped at half the time Halt is given.
	DefaultHaltMargin = time.Second

	// DefaultFetchMaxWait is how long a fetch request waits on the broker
	// for new messages.
	DefaultFetchMaxWait = 500 * time.Millisecond

	// DefaultMaxBatch is the largest batch given to a [BatchHandler].
	DefaultMaxBatch = 100
)

// consumerOption is a ConsumerOption that only a Consumer takes.
type consumerOption func(*consumerConfig)

func (o consumerOption) applyConsumer(c *consumerConfig) { o(c) }

type consumerConfig struct {
	common

	maxInFlight     int
	queueSize       int
	commitInterval  time.Duration
	backoffMin      time.Duration
	backoffMax      time.Duration
	maxRetryTime    time.Duration
	permanent       func(error) bool
	handlerTimeout  time.Duration // zero: the default
	session         time.Duration // the session timeout in effect
	deadLetterTopic string
	middleware      []Middleware
	middlewareSet   bool
	policySet       []string // options of the default chain that were given
	haltMargin      time.Duration
	startOffset     int64
	fetchMaxWait    time.Duration
	group           kafka.ConsumerGroupConfig // timings only
	batchSize       int
	batchTimeout    time.Duration
	batchSet        bool // WithMaxBatch was given
}

func defaultConsumerConfig() consumerConfig {
	return consumerConfig{
		common:         defaultCommon(),
		maxInFlight:    DefaultMaxInFlight,
		queueSize:      DefaultQueueSize,
		commitInterval: DefaultCommitInterval,
		backoffMin:     DefaultBackoffMin,
		backoffMax:     DefaultBackoffMax,
		haltMargin:     DefaultHaltMargin,
		startOffset:    kafka.FirstOffset,
		fetchMaxWait:   DefaultFetchMaxWait,
		batchSize:      DefaultMaxBatch,
		batchTimeout:   DefaultBatchTimeout,
	}
}

// newConsumerConfig applies opts over the defaults, then the environment,
// and validates the result. batch says whether it is for a batch consumer.
func newConsumerConfig(opts []ConsumerOption, batch bool) (consumerConfig, error) {
	c := defaultConsumerConfig()
	for _, opt := range opts {
		if opt != nil {
			opt.applyConsumer(&c)
		}
	}
	if c.middlewareSet && len(c.policySet) > 0 {
		c.invalid("%s: it configures the default middleware, which WithMiddleware replaces (configure Retry and DeadLetter instead)", c.policySet[0])
	}
	if c.batchSet && !batch {
		c.invalid("WithMaxBatch(%d, %v): only a consumer built with NewBatchConsumer takes batches", c.batchSize, c.batchTimeout)
	}
	if err := errors.Join(c.errs...); err != nil {
		return c, err
	}
	src := c.conn.overlayEnv(true, c.connSrc)
	if err := c.conn.validate(src); err != nil {
		return c, err
	}
	if c.conn.GroupID == "" {
		return c, fmt.Errorf("flexkafka: invalid %s %q: a consumer group is required", src.groupID, c.conn.GroupID)
	}
	if len(c.conn.Topics) == 0 {
		return c, fmt.Errorf("flexkafka: invalid %s %q: at least one topic is required", src.topics, "")
	}
	// kafka-go's defaults stand in for zero.
	heartbeat, session := cmp.Or(c.group.HeartbeatInterval, 3*time.Second), cmp.Or(c.group.SessionTimeout, 30*time.Second)
	if heartbeat >= session {
		return c, fmt.Errorf("flexkafka: invalid WithGroupTimings(%v, %v, %v): the heartbeat interval must be shorter than the session timeout (%v)",
			c.group.HeartbeatInterval, c.group.SessionTimeout, c.group.RebalanceTimeout, session)
	}
	if c.deadLetterTopic != "" {
		for _, t := range c.conn.Topics {
			if t == c.deadLetterTopic {
				return c, fmt.Errorf("flexkafka: invalid WithDeadLetterTopic(%q): it is also a consumed topic", t)
			}
		}
	}
	if c.backoffMax < c.backoffMin {
		return c, fmt.Errorf("flexkafka: invalid WithBackoff(%v, %v): max is below min", c.backoffMin, c.backoffMax)
	}
	c.session = session
	if c.handlerTimeout == 0 {
		c.handlerTimeout = min(DefaultHandlerTimeout, session/2)
	}
	c.finish()
	return c, nil
}

// WithGroupID sets the consumer group, overriding FLEX_KAFKA_GROUP_ID.
func WithGroupID(id string) ConsumerOption {
	return consumerOption(func(c *consumerConfig) { c.conn.GroupID, c.connSrc.groupID = id, "WithGroupID" })
}

// WithMaxInFlight bounds how many handler calls run at once across all
// partitions; n must be at least 1. Default [DefaultMaxInFlight].
func WithMaxInFlight(n int) ConsumerOption {
	return consumerOption(func(c *consumerConfig) {
		if n < 1 {
			c.invalid("WithMaxInFlight(%d): must be at least 1", n)
		}
		c.maxInFlight = n
	})
}

// WithQueueSize sets how many fetched messages each partition buffers ahead
// of its handler; n must be at least 1. Default [DefaultQueueSize].
func WithQueueSize(n int) ConsumerOption {
	return consumerOption(func(c *consumerConfig) {
		if n < 1 {
			c.invalid("WithQueueSize(%d): must be at least 1", n)
		}
		c.queueSize = n
	})
}

// WithCommitInterval sets how often handled offsets are committed. Zero
// commits after every message, which is slower but leaves the fewest
// messages to redeliver after a crash. Default [DefaultCommitInterval].
func WithCommitInterval(d time.Duration) ConsumerOption {
	return consumerOption(func(c *consumerConfig) {
		if d < 0 {
			c.invalid("WithCommitInterval(%v): must not be negative", d)
		}
		c.commitInterval = d
	})
}

// WithBackoff sets the bounds of the default [Retry]'s exponential backoff
// between attempts, and of [DeadLetter]'s between dead-letter writes; each wait is drawn at random between half and all of
// min·2ⁿ, capped at max. Defaults [DefaultBackoffMin] and
// [DefaultBackoffMax].
func WithBackoff(min, max time.Duration) ConsumerOption {
	return consumerOption(func(c *consumerConfig) {
		if min <= 0 || max <= 0 {
			c.invalid("WithBackoff(%v, %v): both must be positive", min, max)
		}
		c.backoffMin, c.backoffMax = min, max
		c.policySet = append(c.policySet, fmt.Sprintf("WithBackoff(%v, %v)", min, max))
	})
}

// WithMaxRetryTime bounds how long the default [Retry] retries a message,
// from its first failure: a message still failing after d fails
// permanently, and is dead-lettered (or stops the consumer without a
// dead-letter topic). Zero, the default, retries until the handler
// succeeds: a database outage holds the partition, it does not
// dead-letter good messages.
func WithMaxRetryTime(d time.Duration) ConsumerOption {
	return consumerOption(func(c *consumerConfig) {
		if d < 0 {
			c.invalid("WithMaxRetryTime(%v): must not be negative", d)
		}
		c.maxRetryTime = d
		c.policySet = append(c.policySet, fmt.Sprintf("WithMaxRetryTime(%v)", d))
	})
}

// WithPermanentFunc sets the default [Retry]'s classifier: an error for
// which permanent returns true is not retried but dead-lettered at once,
// like one wrapped with [Permanent]. Nil, the default, leaves only
// [Permanent] errors and panics permanent.
func WithPermanentFunc(permanent func(error) bool) ConsumerOption {
	return consumerOption(func(c *consumerConfig) {
		c.permanent = permanent
		c.policySet = append(c.policySet, "WithPermanentFunc")
	})
}

// WithDeadLetterTopic puts [DeadLetter](topic, nil) outside the default
// [Retry]: a message that fails permanently is published to topic, with
// the [HeaderDLQTopic] family of headers, then committed, and its partition
// moves on. Without it (the default) such a message stops the consumer:
// Run returns a [*HandlerError] and the offset stays uncommitted.
// Dead-letter writes wait for all in-sync replicas; a failed one is
// retried, holding the partition, with [WithBackoff]'s backoff (see
// [DeadLetter]).
func WithDeadLetterTopic(topic string) ConsumerOption {
	return consumerOption(func(c *consumerConfig) {
		if err := validateTopic(topic); err != nil {
			c.invalid("WithDeadLetterTopic(%q): %v", topic, err)
		}
		c.deadLetterTopic = topic
		c.policySet = append(c.policySet, fmt.Sprintf("WithDeadLetterTopic(%q)", topic))
	})
}

// WithMiddleware replaces the consumer's default middleware (DeadLetter,
// when [WithDeadLetterTopic] is given, around [Retry]) with mws, the first
// outermost. Compose the policies you want, for example
//
//	flexkafka.WithMiddleware(tracing, flexkafka.DeadLetter("orders-dlq", nil), flexkafka.Retry(flexkafka.RetryPolicy{}))
//
// With no middleware, a handler error stops the consumer. The options that
// configure the default chain ([WithBackoff], [WithMaxRetryTime],
// [WithPermanentFunc], [WithDeadLetterTopic]) are an error with it. A nil
// middleware is an error.
func WithMiddleware(mws ...Middleware) ConsumerOption {
	return consumerOption(func(c *consumerConfig) {
		for i, mw := range mws {
			if mw == nil {
				c.invalid("WithMiddleware: middleware %d is nil", i)
			}
		}
		c.middleware, c.middlewareSet = append([]Middleware(nil), mws...), true
	})
}

// WithHandlerTimeout bounds each handler call, the role of Kafka's
// max.poll.interval: the handler's context is cancelled after d (with
// cause [ErrHandlerTimeout], a failure the default [Retry] retries), and a
// call still running then ignores its context: it is logged, and
// [Consumer.Check] fails with [ErrHandlerStuck] until it returns. Default
// [DefaultHandlerTimeout], or half the session timeout when that is
// shorter.
func WithHandlerTimeout(d time.Duration) ConsumerOption {
	return consumerOption(func(c *consumerConfig) {
		if d <= 0 {
			c.invalid("WithHandlerTimeout(%v): must be positive", d)
		}
		c.handlerTimeout = d
	})
}

// WithHaltMargin sets how long before the halt deadline the context of
// handlers still running is cancelled, to leave time to commit and close.
// It is capped at half the time given to Halt. Default [DefaultHaltMargin].
func WithHaltMargin(d time.Duration) ConsumerOption {
	return consumerOption(func(c *consumerConfig) {
		if d < 0 {
			c.invalid("WithHaltMargin(%v): must not be negative", d)
		}
		c.haltMargin = d
	})
}

// WithStartOffset sets where a group with no committed offset for a
// partition begins: kafka.FirstOffset (the default) or kafka.LastOffset.
func WithStartOffset(offset int64) ConsumerOption {
	return consumerOption(func(c *consumerConfig) {
		if offset != kafka.FirstOffset && offset != kafka.LastOffset {
			c.invalid("WithStartOffset(%d): want kafka.FirstOffset or kafka.LastOffset", offset)
		}
		c.startOffset = offset
	})
}

// WithGroupTimings sets the consumer group's heartbeat interval, session
// timeout and rebalance timeout; zero keeps kafka-go's default (3 s, 30 s,
// 30 s). A shorter heartbeat notices rebalances sooner; it must be shorter
// than the session timeout.
func WithGroupTimings(heartbeat, session, rebalance time.Duration) ConsumerOption {
	return consumerOption(func(c *consumerConfig) {
		if heartbeat < 0 || session < 0 || rebalance < 0 {
			c.invalid("WithGroupTimings(%v, %v, %v): must not be negative", heartbeat, session, rebalance)
		}
		c.group.HeartbeatInterval, c.group.SessionTimeout, c.group.RebalanceTimeout = heartbeat, session, rebalance
	})
}

// WithJoinBackoff sets how long the consumer waits before joining its group
// again after a failed join; zero keeps kafka-go's default of 5 s.
func WithJoinBackoff(d time.Duration) ConsumerOption {
	return consumerOption(func(c *consumerConfig) {
		if d < 0 {
			c.invalid("WithJoinBackoff(%v): must not be negative", d)
		}
		c.group.JoinGroupBackoff = d
	})
}

// WithFetchMaxWait sets how long a fetch waits on the broker for new
// messages. Default [DefaultFetchMaxWait].
func WithFetchMaxWait(d time.Duration) ConsumerOption {
	return consumerOption(func(c *consumerConfig) {
		if d <= 0 {
			c.invalid("WithFetchMaxWait(%v): must be positive", d)
		}
		c.fetchMaxWait = d
	})
}

// WithMaxBatch sets the batches of a consumer built with
// [NewBatchConsumer]: at most size messages per handler call, collected for
// at most timeout after the first. Defaults [DefaultMaxBatch] and
// [DefaultBatchTimeout]. [NewConsumer] rejects it, as its handler takes
// one message at a time.
func WithMaxBatch(size int, timeout time.Duration) ConsumerOption {
	return consumerOption(func(c *consumerConfig) {
		if size < 1 || timeout <= 0 {
			c.invalid("WithMaxBatch(%d, %v): size must be at least 1 and timeout positive", size, timeout)
		}
		c.batchSize, c.batchTimeout, c.batchSet = size, timeout, true
	})
}
