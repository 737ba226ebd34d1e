package flexkafka

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// DefaultMaxBuffered is how many messages a [Producer] holds without an
// outcome (neither acknowledged nor failed) before Produce waits for room,
// or fails under [WithNonBlocking]. At about 1 KiB a message it bounds the
// memory held to some 10 MiB; the same default as franz-go's
// MaxBufferedRecords.
const DefaultMaxBuffered = 10000

// EnvProducerMaxBuffered sets the bound of [WithMaxBuffered] when no option
// gives it: a whole number of messages, at least 1. Read by [NewProducer].
const EnvProducerMaxBuffered = "FLEX_KAFKA_PRODUCER_MAX_BUFFERED"

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
	maxBuffered   int
	maxBufferedBy string // the option or variable that set maxBuffered, for errors
	nonBlocking   bool
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
	if err := c.maxBufferedFromEnv(); err != nil {
		return c, err
	}
	if len(c.conn.Topics) > 1 {
		return c, fmt.Errorf("flexkafka: invalid %s %q: a producer takes at most one default topic", src.topics, c.conn.Topics)
	}
	c.finish()
	return c, nil
}

// maxBufferedFromEnv applies EnvProducerMaxBuffered unless WithMaxBuffered
// was given, then the default.
func (c *producerConfig) maxBufferedFromEnv() error {
	if c.maxBufferedBy != "" {
		return nil
	}
	c.maxBuffered, c.maxBufferedBy = DefaultMaxBuffered, "DefaultMaxBuffered"
	raw, ok := os.LookupEnv(EnvProducerMaxBuffered)
	if !ok || strings.TrimSpace(raw) == "" {
		return nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || n < 1 {
		return fmt.Errorf("flexkafka: invalid %s %q: want a whole number of messages, at least 1", EnvProducerMaxBuffered, raw)
	}
	c.maxBuffered, c.maxBufferedBy = n, EnvProducerMaxBuffered
	return nil
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

// WithAsync makes [Producer.Produce] return as soon as the writer has
// queued the messages. Each message it accepted (returned nil for) then ends
// in exactly one of two ways: acknowledged, counted in
// [ProducerStats.Messages]; or given to onError with its error, counted in
// [ProducerStats.Errors]. That holds whatever happens to the brokers and
// whatever the halt deadline: the messages still unacknowledged when Halt
// gives up are given to onError then, with an error wrapping
// [ErrNotAcknowledged], and a late acknowledgement of them is ignored.
//
// onError is called from the writer's goroutines, concurrently for batches
// of different partitions, with the messages of one batch or, at the halt
// deadline, of up to a batch's size; their Topic is set and their
// WriterData is the caller's. It must not block for long: while it runs,
// the partition of its batch is not written, and Halt waits for calls in
// progress before it returns. It must not call Halt, nor wait on Produce:
// re-produce from another goroutine. A nil onError logs each failure
// instead.
func WithAsync(onError func(msgs []kafka.Message, err error)) ProducerOption {
	return producerOption(func(c *producerConfig) { c.async, c.onAsyncError = true, onError })
}

// WithMaxBuffered bounds how many messages the producer holds without an
// outcome (neither acknowledged nor failed), counting those of synchronous
// Produce calls still waiting and those of calls that stopped waiting. When
// accepting a Produce call's messages would exceed n, Produce waits for
// room, until its context is done or Halt begins; under [WithNonBlocking] it
// fails at once with [ErrBufferFull]. A single call of more than n messages
// always fails with [ErrBufferFull]. n must be at least 1. Default
// [DefaultMaxBuffered], or [EnvProducerMaxBuffered] when set.
func WithMaxBuffered(n int) ProducerOption {
	return producerOption(func(c *producerConfig) {
		if n < 1 {
			c.invalid("WithMaxBuffered(%d): must be at least 1", n)
		}
		c.maxBuffered, c.maxBufferedBy = n, fmt.Sprintf("WithMaxBuffered(%d)", n)
	})
}

// WithNonBlocking makes Produce fail at once with [ErrBufferFull], instead of
// waiting, when the bound of [WithMaxBuffered] leaves no room for its
// messages. Nothing of such a call is written.
func WithNonBlocking() ProducerOption {
	return producerOption(func(c *producerConfig) { c.nonBlocking = true })
}
