package flexkafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Headers added to a dead-lettered message, after the original headers
// (from which earlier flexkafka-dlq- headers are removed, so that a
// message dead-lettered again after a [Redrive] describes its last
// failure only).
const (
	HeaderDLQTopic     = "flexkafka-dlq-topic"     // the topic the message came from
	HeaderDLQPartition = "flexkafka-dlq-partition" // its partition, in decimal
	HeaderDLQOffset    = "flexkafka-dlq-offset"    // its offset, in decimal
	HeaderDLQError     = "flexkafka-dlq-error"     // the handler's last error
	HeaderDLQAttempts  = "flexkafka-dlq-attempts"  // how many times it was handled, in decimal
	HeaderDLQTime      = "flexkafka-dlq-time"      // when it was dead-lettered, RFC 3339 with nanoseconds, UTC
	HeaderDLQGroup     = "flexkafka-dlq-group"     // the consumer group that gave up on it
)

// headerDLQPrefix begins every dead-letter header.
const headerDLQPrefix = "flexkafka-dlq-"

// Writer writes messages, as *kafka.Writer does. [DeadLetter] and
// [Redrive] write through one.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// DeadLetter returns middleware that publishes the messages whose handling
// failed for good to topic, with the [HeaderDLQTopic] family of headers,
// then reports them handled so that their partition moves on. Put it
// outside [Retry], so that what reaches it is permanent: marked with
// [Permanent], classified so, a panic, or retried past
// [RetryPolicy.MaxElapsed]. A retry interrupted by Halt or a rebalance,
// and a failure after the handler's context was cancelled, pass through
// untouched: the message is delivered again.
//
// w writes the dead letters; nil means the consumer's own writer, which
// waits for all in-sync replicas and is closed when Run returns.
//
// A failed write is transient until shown to be permanent, as a handler
// error is under [Retry]: a broker that refuses writes for a moment must
// not stop the service. The write is retried, holding the partition (a
// message is never committed without its dead letter), with capped
// exponential backoff and jitter within [WithBackoff]'s bounds (default
// [DefaultBackoffMin] to [DefaultBackoffMax]), until it succeeds.
// Meanwhile [Consumer.Check] fails with [ErrRetrying] and
// [ConsumerStats].Retrying lists the message with the write error as its
// last error; the log says once when the retries start and once when the
// write recovers; ConsumerStats counts each retry in DeadLetterRetries
// (also per topic) and each failed write in Errors. When kafka-go reports
// some messages of a batch written, only the others are written again. A
// missing dead-letter topic and a refused authorization are retried too:
// creating the topic or granting the ACL heals them without a restart.
// Halt and the end of the generation stop the retries at once, cancelling
// a retried write in flight: the message stays uncommitted and is
// delivered again (so its dead letter may be written twice, as at least
// once allows).
//
// A write error that retrying cannot heal stops the consumer, loudly,
// rather than hold the partition for ever: a dead letter too large for the writer
// (kafka.MessageTooLargeError) or the broker (MESSAGE_TOO_LARGE,
// RECORD_LIST_TOO_LARGE), an invalid topic or record (INVALID_TOPIC,
// INVALID_RECORD), a closed writer (io.ErrClosedPipe), and an error w
// wraps with [Permanent]. The middleware returns it at once, naming the
// topic and wrapping the write error (kafka-go's per-message errors
// unwrapped, so that errors.Is finds kafka.MessageSizeTooLarge) and the
// handler's; Run returns it in a [*HandlerError], the message
// uncommitted.
//
// Outside a [Consumer] (a handler chain called directly), w must not be
// nil, and a failed write is retried with the default backoff until it
// succeeds, fails permanently or ctx ends, which returns the last error.
// [WithDeadLetterTopic] puts DeadLetter(topic, nil) in the default chain.
func DeadLetter(topic string, w Writer) Middleware {
	invalid := validateTopic(topic)
	return func(next BatchHandler) BatchHandler {
		return func(ctx context.Context, msgs []kafka.Message) error {
			err := next(ctx, msgs)
			if err == nil || errors.Is(err, errInterrupted) || ctx.Err() != nil {
				return err
			}
			if invalid != nil {
				return fmt.Errorf("flexkafka: invalid DeadLetter(%q): %v (handler error: %w)", topic, invalid, err)
			}
			d := deliveryFrom(ctx)
			writer, attempts, group := w, 0, ""
			if d != nil {
				attempts, group = d.attempts(), d.c.cfg.conn.GroupID
				if writer == nil {
					writer = &d.c.dlq
				}
			}
			if writer == nil {
				return fmt.Errorf("flexkafka: DeadLetter(%q, nil) outside a Consumer has no writer (handler error: %w)", topic, err)
			}
			out := deadLetters(topic, msgs, err, attempts, group, time.Now())
			if werr := writeDeadLetters(ctx, d, writer, topic, out); werr != nil {
				return fmt.Errorf("flexkafka: dead-letter to %q failed: %w (handler error: %w)", topic, werr, err)
			}
			if d != nil {
				d.c.deadLettered(d, topic, err, len(msgs))
			}
			return nil
		}
	}
}

// deadLetters returns the dead letters of msgs.
func deadLetters(topic string, msgs []kafka.Message, cause error, attempts int, group string, now time.Time) []kafka.Message {
	out := make([]kafka.Message, len(msgs))
	for i, msg := range msgs {
		headers := make([]kafka.Header, 0, len(msg.Headers)+7)
		for _, h := range msg.Headers {
			if !strings.HasPrefix(h.Key, headerDLQPrefix) {
				headers = append(headers, h)
			}
		}
		headers = append(headers,
			kafka.Header{Key: HeaderDLQTopic, Value: []byte(msg.Topic)},
			kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(msg.Partition))},
			kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(msg.Offset, 10))},
			kafka.Header{Key: HeaderDLQError, Value: []byte(cause.Error())},
			kafka.Header{Key: HeaderDLQAttempts, Value: []byte(strconv.Itoa(attempts))},
			kafka.Header{Key: HeaderDLQTime, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
			kafka.Header{Key: HeaderDLQGroup, Value: []byte(group)},
		)
		out[i] = kafka.Message{Topic: topic, Key: msg.Key, Value: msg.Value, Headers: headers}
	}
	return out
}

// deadLettered counts and logs count dead letters of d.
func (c *Consumer) deadLettered(d *delivery, topic string, cause error, count int) {
	// A middleware may dead-letter some of the delivery's messages, one at
	// a time, and handle the others: only those count as dead letters.
	n := uint64(count)
	d.mu.Lock()
	d.dead += count
	d.mu.Unlock()
	c.counters.deadLettered.Add(n)
	c.topic(d.key.topic).deadLettered.Add(n)
	c.retries.deadLetterDone(d, topic)
	c.log.Warn("flexkafka: dead-lettered", "topic", d.key.topic, "partition", d.key.partition, "offset", d.key.offset,
		"messages", n, "attempts", d.attempts(), "dead_letter_topic", topic, "error", cause)
}

// deadLetterWriter is the consumer's own writer of dead letters, made on
// first use. It waits for all in-sync replicas: a dead letter is committed
// past, so it must not be lost.
type deadLetterWriter struct {
	cfg       consumerConfig
	transport *kafka.Transport
	mu        sync.Mutex
	w         *kafka.Writer
	closed    bool
}

// WriteMessages writes msgs synchronously.
func (d *deadLetterWriter) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errors.New("flexkafka: dead-letter writer closed: the consumer has stopped")
	}
	if d.w == nil {
		d.w = &kafka.Writer{
			Addr:         kafka.TCP(d.cfg.conn.Brokers...),
			Transport:    d.transport,
			Balancer:     kafka.CRC32Balancer{},
			RequiredAcks: kafka.RequireAll,
			BatchSize:    max(d.cfg.batchSize, 1),
			BatchTimeout: DefaultBatchTimeout,
			MaxAttempts:  3,
			Logger:       kafkaLogger(d.cfg.logger, "kafka-go writer"),
		}
	}
	w := d.w
	d.mu.Unlock()
	return w.WriteMessages(ctx, msgs...)
}

// close closes the writer if it was made.
func (d *deadLetterWriter) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.w == nil {
		return nil
	}
	return d.w.Close()
}
