package flexkafka

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// Defaults, chosen for I/O-bound handlers and for losing nothing.
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

	// DefaultMaxAttempts is how many times a failing message is handled
	// before the failure policy applies (dead-letter or stop).
	DefaultMaxAttempts = 3

	// DefaultBackoffMin and DefaultBackoffMax bound the exponential backoff,
	// with jitter, between attempts.
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second

	// DefaultHaltMargin is how long before the halt deadline the context of
	// handlers still running is cancelled, leaving time to commit and close.
	// It is capped at half the time Halt is given.
	DefaultHaltMargin = time.Second

	// DefaultBatchTimeout is how long a producer waits to fill a batch. Kept
	// small because a synchronous write waits for it (kafka-go's default is
	// one second).
	DefaultBatchTimeout = 2 * time.Millisecond

	// DefaultFetchMaxWait is how long a fetch request waits on the broker
	// for new messages.
	DefaultFetchMaxWait = 500 * time.Millisecond
)

// Option configures a [Consumer] or a [Producer]. Options that apply to
// only one of them say so and are ignored by the other.
type Option func(*config)

type config struct {
	conn       Config
	connSrc    sources // the option that set each field of conn, for errors
	logger     *slog.Logger
	propagator Propagator
	errs       []error

	// consumer
	maxInFlight     int
	queueSize       int
	commitInterval  time.Duration
	maxAttempts     int
	backoffMin      time.Duration
	backoffMax      time.Duration
	deadLetterTopic string
	haltMargin      time.Duration
	startOffset     int64
	fetchMaxWait    time.Duration
	group           kafka.ConsumerGroupConfig // timings only

	// producer
	requiredAcks  kafka.RequiredAcks
	batchTimeout  time.Duration
	batchSize     int
	balancer      kafka.Balancer
	async         bool
	onAsyncError  func(msgs []kafka.Message, err error)
	writeAttempts int
}

func defaultConfig() config {
	return config{
		connSrc:        sources{brokers: "WithBrokers", groupID: "WithGroupID", topics: "WithTopics"},
		maxInFlight:    DefaultMaxInFlight,
		queueSize:      DefaultQueueSize,
		commitInterval: DefaultCommitInterval,
		maxAttempts:    DefaultMaxAttempts,
		backoffMin:     DefaultBackoffMin,
		backoffMax:     DefaultBackoffMax,
		haltMargin:     DefaultHaltMargin,
		startOffset:    kafka.FirstOffset,
		fetchMaxWait:   DefaultFetchMaxWait,
		requiredAcks:   kafka.RequireAll,
		batchTimeout:   DefaultBatchTimeout,
		batchSize:      100,
		writeAttempts:  10,
	}
}

// newConfig applies opts over the defaults, then the environment, and
// validates the result. consumer says which worker it is for.
func newConfig(opts []Option, consumer bool) (config, error) {
	c := defaultConfig()
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	if err := errors.Join(c.errs...); err != nil {
		return c, err
	}
	src := c.conn.overlayEnv(consumer, c.connSrc)
	if err := c.conn.validate(src); err != nil {
		return c, err
	}
	if consumer {
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
	} else if len(c.conn.Topics) > 1 {
		return c, fmt.Errorf("flexkafka: invalid %s %q: a producer takes at most one default topic", src.topics, c.conn.Topics)
	}
	if c.backoffMax < c.backoffMin {
		return c, fmt.Errorf("flexkafka: invalid WithBackoff(%v, %v): max is below min", c.backoffMin, c.backoffMax)
	}
	if c.conn.ClientID == "" {
		c.conn.ClientID = "flexkafka"
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c, nil
}

func (c *config) invalid(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("flexkafka: invalid "+format, args...))
}

// WithConfig sets how to reach the cluster and what to consume. Fields left
// zero fall back to the environment (see [EnvBrokers]); options given after
// it override its fields.
func WithConfig(cfg Config) Option {
	return func(c *config) {
		cfg.Brokers = append([]string(nil), cfg.Brokers...)
		cfg.Topics = append([]string(nil), cfg.Topics...)
		c.conn = cfg
		c.connSrc = sources{brokers: "WithConfig Brokers", groupID: "WithConfig GroupID", topics: "WithConfig Topics"}
	}
}

// WithBrokers sets the bootstrap brokers, overriding FLEX_KAFKA_BROKERS.
func WithBrokers(brokers ...string) Option {
	return func(c *config) {
		c.conn.Brokers, c.connSrc.brokers = append([]string(nil), brokers...), "WithBrokers"
	}
}

// WithGroupID sets the consumer group, overriding FLEX_KAFKA_GROUP_ID.
// Consumer only.
func WithGroupID(id string) Option {
	return func(c *config) { c.conn.GroupID, c.connSrc.groupID = id, "WithGroupID" }
}

// WithTopics sets the topics to consume, overriding FLEX_KAFKA_TOPICS. For a
// Producer it sets the default topic, of messages that name none, and takes
// at most one.
func WithTopics(topics ...string) Option {
	return func(c *config) {
		c.conn.Topics, c.connSrc.topics = append([]string(nil), topics...), "WithTopics"
	}
}

// WithTLS enables TLS with cfg.
func WithTLS(cfg *tls.Config) Option { return func(c *config) { c.conn.TLS = cfg } }

// WithSASL authenticates with the mechanism m, such as plain.Mechanism or
// scram.Mechanism from kafka-go's sasl packages.
func WithSASL(m sasl.Mechanism) Option { return func(c *config) { c.conn.SASL = m } }

// WithLogger sets the logger. Nil means slog.Default(), read when the worker
// is built.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithPropagator propagates trace context through message headers: a
// Producer injects it from the context given to Produce, a Consumer extracts
// it into the context given to a [Handler] (a [BatchHandler] reads the
// headers itself). Nil (the default) propagates nothing. See [W3C].
func WithPropagator(p Propagator) Option { return func(c *config) { c.propagator = p } }

// WithMaxInFlight bounds how many handler calls run at once across all
// partitions; n must be at least 1. Default [DefaultMaxInFlight]. Consumer
// only.
func WithMaxInFlight(n int) Option {
	return func(c *config) {
		if n < 1 {
			c.invalid("WithMaxInFlight(%d): must be at least 1", n)
		}
		c.maxInFlight = n
	}
}

// WithQueueSize sets how many fetched messages each partition buffers ahead
// of its handler; n must be at least 1. Default [DefaultQueueSize].
// Consumer only.
func WithQueueSize(n int) Option {
	return func(c *config) {
		if n < 1 {
			c.invalid("WithQueueSize(%d): must be at least 1", n)
		}
		c.queueSize = n
	}
}

// WithCommitInterval sets how often handled offsets are committed. Zero
// commits after every message, which is slower but leaves the fewest
// messages to redeliver after a crash. Default [DefaultCommitInterval].
// Consumer only.
func WithCommitInterval(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.invalid("WithCommitInterval(%v): must not be negative", d)
		}
		c.commitInterval = d
	}
}

// WithMaxAttempts sets how many times a failing message is handled before
// the failure policy applies; 1 means no retry. Default
// [DefaultMaxAttempts]. Consumer only.
func WithMaxAttempts(n int) Option {
	return func(c *config) {
		if n < 1 {
			c.invalid("WithMaxAttempts(%d): must be at least 1", n)
		}
		c.maxAttempts = n
	}
}

// WithBackoff sets the bounds of the exponential backoff between attempts;
// each wait is drawn at random between half and all of min·2ⁿ, capped at
// max. Defaults [DefaultBackoffMin] and [DefaultBackoffMax]. Consumer only.
func WithBackoff(min, max time.Duration) Option {
	return func(c *config) {
		if min <= 0 || max <= 0 {
			c.invalid("WithBackoff(%v, %v): both must be positive", min, max)
		}
		c.backoffMin, c.backoffMax = min, max
	}
}

// WithDeadLetterTopic makes the consumer publish a message that failed
// every attempt to topic, with the [HeaderDLQTopic] family of headers, then
// commit it and move on. Without it (the default) such a message stops the
// consumer: Run returns a [*HandlerError] and the offset stays uncommitted.
// Consumer only.
func WithDeadLetterTopic(topic string) Option {
	return func(c *config) {
		if err := validateTopic(topic); err != nil {
			c.invalid("WithDeadLetterTopic(%q): %v", topic, err)
		}
		c.deadLetterTopic = topic
	}
}

// WithHaltMargin sets how long before the halt deadline the context of
// handlers still running is cancelled, to leave time to commit and close.
// It is capped at half the time given to Halt. Default [DefaultHaltMargin].
// Consumer only.
func WithHaltMargin(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.invalid("WithHaltMargin(%v): must not be negative", d)
		}
		c.haltMargin = d
	}
}

// WithStartOffset sets where a group with no committed offset for a
// partition begins: kafka.FirstOffset (the default) or kafka.LastOffset.
// Consumer only.
func WithStartOffset(offset int64) Option {
	return func(c *config) {
		if offset != kafka.FirstOffset && offset != kafka.LastOffset {
			c.invalid("WithStartOffset(%d): want kafka.FirstOffset or kafka.LastOffset", offset)
		}
		c.startOffset = offset
	}
}

// WithGroupTimings sets the consumer group's heartbeat interval, session
// timeout and rebalance timeout; zero keeps kafka-go's default (3 s, 30 s,
// 30 s). A shorter heartbeat notices rebalances sooner; it must be shorter
// than the session timeout. Consumer only.
func WithGroupTimings(heartbeat, session, rebalance time.Duration) Option {
	return func(c *config) {
		if heartbeat < 0 || session < 0 || rebalance < 0 {
			c.invalid("WithGroupTimings(%v, %v, %v): must not be negative", heartbeat, session, rebalance)
		}
		c.group.HeartbeatInterval, c.group.SessionTimeout, c.group.RebalanceTimeout = heartbeat, session, rebalance
	}
}

// WithJoinBackoff sets how long the consumer waits before joining its group
// again after a failed join; zero keeps kafka-go's default of 5 s.
// Consumer only.
func WithJoinBackoff(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.invalid("WithJoinBackoff(%v): must not be negative", d)
		}
		c.group.JoinGroupBackoff = d
	}
}

// WithFetchMaxWait sets how long a fetch waits on the broker for new
// messages. Default [DefaultFetchMaxWait]. Consumer only.
func WithFetchMaxWait(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.invalid("WithFetchMaxWait(%v): must be positive", d)
		}
		c.fetchMaxWait = d
	}
}

// WithRequiredAcks sets the acknowledgements a write waits for. Default
// kafka.RequireAll, so that an acknowledged message survives the loss of
// its leader. Producer and dead-letter writes.
func WithRequiredAcks(acks kafka.RequiredAcks) Option {
	return func(c *config) {
		if acks != kafka.RequireAll && acks != kafka.RequireOne && acks != kafka.RequireNone {
			c.invalid("WithRequiredAcks(%d): want kafka.RequireAll, RequireOne or RequireNone", acks)
		}
		c.requiredAcks = acks
	}
}

// WithBatch sets the batching: for a Producer, at most size messages per
// write to a partition, flushed after timeout at the latest; for a consumer
// built with [NewBatchConsumer], at most size messages per handler call,
// collected for at most timeout after the first. Defaults 100 and
// [DefaultBatchTimeout].
func WithBatch(size int, timeout time.Duration) Option {
	return func(c *config) {
		if size < 1 || timeout <= 0 {
			c.invalid("WithBatch(%d, %v): size must be at least 1 and timeout positive", size, timeout)
		}
		c.batchSize, c.batchTimeout = size, timeout
	}
}

// WithBalancer sets how the producer picks a message's partition. The
// default, kafka.CRC32Balancer, keeps every key on one partition, as
// librdkafka (and so kcat) does; use kafka.Murmur2Balancer to match the
// Java client. Producer only.
func WithBalancer(b kafka.Balancer) Option { return func(c *config) { c.balancer = b } }

// WithWriteAttempts sets how many times a write is tried before it fails.
// Default 10. Producer only.
func WithWriteAttempts(n int) Option {
	return func(c *config) {
		if n < 1 {
			c.invalid("WithWriteAttempts(%d): must be at least 1", n)
		}
		c.writeAttempts = n
	}
}

// WithAsync makes [Producer.Produce] return as soon as the messages are
// queued. A batch that then fails is counted in [ProducerStats.Errors] and
// given to onError, from a goroutine of the producer; nil onError logs it.
// Halt still flushes every queued message. Producer only.
func WithAsync(onError func(msgs []kafka.Message, err error)) Option {
	return func(c *config) { c.async, c.onAsyncError = true, onError }
}
