package flexkafka

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go/sasl"
)

// ConsumerOption configures a [Consumer]. Every [Option] is also a
// ConsumerOption; an option that applies only to a [Producer] is not, so
// giving it to [NewConsumer] does not compile.
type ConsumerOption interface{ applyConsumer(*consumerConfig) }

// ProducerOption configures a [Producer]. Every [Option] is also a
// ProducerOption; an option that applies only to a [Consumer] is not, so
// giving it to [NewProducer] does not compile.
type ProducerOption interface{ applyProducer(*producerConfig) }

// Option configures both a [Consumer] and a [Producer]: how to reach the
// cluster, the logger and the trace propagator. It is both a
// [ConsumerOption] and a [ProducerOption], so one list of them can be
// given to both constructors.
type Option interface {
	ConsumerOption
	ProducerOption
}

// common is the configuration shared by both workers. It is embedded in
// consumerConfig and producerConfig.
type common struct {
	conn       Config
	connSrc    sources // the option that set each field of conn, for errors
	logger     *slog.Logger
	propagator Propagator
	errs       []error
}

func defaultCommon() common {
	return common{connSrc: sources{brokers: "WithBrokers", groupID: "WithGroupID", topics: "WithTopics"}}
}

// finish fills what the options left to defaults once they are validated.
func (c *common) finish() {
	if c.conn.ClientID == "" {
		c.conn.ClientID = "flexkafka"
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
}

func (c *common) invalid(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("flexkafka: invalid "+format, args...))
}

// sharedOption is an Option: it sets the common part of either config.
type sharedOption func(*common)

func (o sharedOption) applyConsumer(c *consumerConfig) { o(&c.common) }
func (o sharedOption) applyProducer(c *producerConfig) { o(&c.common) }

// WithConfig sets how to reach the cluster and, for a Consumer, what to
// consume. Fields left zero fall back to the environment (see
// [EnvBrokers]); options given after it override its fields.
func WithConfig(cfg Config) Option {
	return sharedOption(func(c *common) {
		cfg.Brokers = append([]string(nil), cfg.Brokers...)
		cfg.Topics = append([]string(nil), cfg.Topics...)
		c.conn = cfg
		c.connSrc = sources{brokers: "WithConfig Brokers", groupID: "WithConfig GroupID", topics: "WithConfig Topics"}
	})
}

// WithBrokers sets the bootstrap brokers, overriding FLEX_KAFKA_BROKERS.
func WithBrokers(brokers ...string) Option {
	return sharedOption(func(c *common) {
		c.conn.Brokers, c.connSrc.brokers = append([]string(nil), brokers...), "WithBrokers"
	})
}

// WithTopics sets the topics to consume, overriding FLEX_KAFKA_TOPICS. For a
// Producer it sets the default topic, of messages that name none, and takes
// at most one.
func WithTopics(topics ...string) Option {
	return sharedOption(func(c *common) {
		c.conn.Topics, c.connSrc.topics = append([]string(nil), topics...), "WithTopics"
	})
}

// WithTLS enables TLS with cfg.
func WithTLS(cfg *tls.Config) Option { return sharedOption(func(c *common) { c.conn.TLS = cfg }) }

// WithSASL authenticates with the mechanism m, such as plain.Mechanism or
// scram.Mechanism from kafka-go's sasl packages.
func WithSASL(m sasl.Mechanism) Option { return sharedOption(func(c *common) { c.conn.SASL = m }) }

// WithLogger sets the logger. Nil means slog.Default(), read when the worker
// is built.
func WithLogger(l *slog.Logger) Option { return sharedOption(func(c *common) { c.logger = l }) }

// WithPropagator propagates trace context through message headers: a
// Producer injects it from the context given to Produce, a Consumer extracts
// it into the context given to a [Handler] (a [BatchHandler] reads the
// headers itself). Nil (the default) propagates nothing. See [W3C].
func WithPropagator(p Propagator) Option {
	return sharedOption(func(c *common) { c.propagator = p })
}

// DefaultBatchTimeout is how long a producer waits to fill a batch, and how
// long a batch consumer collects messages after the first. Kept small
// because a synchronous write waits for it (kafka-go's default is one
// second).
const DefaultBatchTimeout = 2 * time.Millisecond
