package flexkafka

import (
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// producerOption is a ProducerOption that only a Producer takes.
type producerOption func(*producerConfig)

func (o producerOption) applyProducer(c *producerConfig) { o(c) }

type producerConfig struct {
	common

	requiredAcks  kafka.RequiredAcks
	batchTimeout  time.Duration
	batchSize     int
	balancer      kafka.Balancer
	async         bool
	onAsyncError  func(msgs []kafka.Message, err error)
	writeAttempts int
}

func defaultProducerConfig() producerConfig {
	return producerConfig{
		common:        defaultCommon(),
		requiredAcks:  kafka.RequireAll,
		batchTimeout:  DefaultBatchTimeout,
		batchSize:     100,
		writeAttempts: 10,
	}
}

// newProducerConfig applies opts over the defaults, then the environment,
// and validates the result.
func newProducerConfig(opts []ProducerOption) (producerConfig, error) {
	c := defaultProducerConfig()
	for _, opt := range opts {
		if opt != nil {
			opt.applyProducer(&c)
		}
	}
	if err := errors.Join(c.errs...); err != nil {
		return c, err
	}
	src := c.conn.overlayEnv(false, c.connSrc)
	if err := c.conn.validate(src); err != nil {
		return c, err
	}
	if len(c.conn.Topics) > 1 {
		return c, fmt.Errorf("flexkafka: invalid %s %q: a producer takes at most one default topic", src.topics, c.conn.Topics)
	}
	c.finish()
	return c, nil
}

// WithRequiredAcks sets the acknowledgements a write waits for. Default
// kafka.RequireAll, so that an acknowledged message survives the loss of
// its leader.
func WithRequiredAcks(acks kafka.RequiredAcks) ProducerOption {
	return producerOption(func(c *producerConfig) {
		if acks != kafka.RequireAll && acks != kafka.RequireOne && acks != kafka.RequireNone {
			c.invalid("WithRequiredAcks(%d): want kafka.RequireAll, RequireOne or RequireNone", acks)
		}
		c.requiredAcks = acks
	})
}

// WithBatch sets the producer's batching: at most size messages per write
// to a partition, flushed after timeout at the latest. Defaults 100 and
// [DefaultBatchTimeout]. (A batch consumer's batches are set by
// [WithMaxBatch].)
func WithBatch(size int, timeout time.Duration) ProducerOption {
	return producerOption(func(c *producerConfig) {
		if size < 1 || timeout <= 0 {
			c.invalid("WithBatch(%d, %v): size must be at least 1 and timeout positive", size, timeout)
		}
		c.batchSize, c.batchTimeout = size, timeout
	})
}

// WithBalancer sets how the producer picks a message's partition. The
// default, kafka.CRC32Balancer, keeps every key on one partition, as
// librdkafka (and so kcat) does; use kafka.Murmur2Balancer to match the
// Java client.
func WithBalancer(b kafka.Balancer) ProducerOption {
	return producerOption(func(c *producerConfig) { c.balancer = b })
}

// WithWriteAttempts sets how many times a write is tried before it fails.
// Default 10.
func WithWriteAttempts(n int) ProducerOption {
	return producerOption(func(c *producerConfig) {
		if n < 1 {
			c.invalid("WithWriteAttempts(%d): must be at least 1", n)
		}
		c.writeAttempts = n
	})
}

// WithAsync makes [Producer.Produce] return as soon as the messages are
// queued. A batch that then fails is counted in [ProducerStats.Errors] and
// given to onError, from a goroutine of the producer; nil onError logs it.
// Halt still flushes every queued message.
func WithAsync(onError func(msgs []kafka.Message, err error)) ProducerOption {
	return producerOption(func(c *producerConfig) { c.async, c.onAsyncError = true, onError })
}
