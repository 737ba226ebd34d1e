package kafkatest_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// refusal makes the kfake broker refuse every produce request to one
// topic, by closing the connection as a failing broker does, until accept
// is called; requests to other topics are handled as usual.
type refusal struct {
	accepting atomic.Bool
	refused   atomic.Int64
}

func refuseProduce(t testing.TB, c *cluster, topic string) *refusal {
	t.Helper()
	if c.fake == nil {
		t.Skip("makes the broker refuse produce requests: kfake only")
	}
	r := &refusal{}
	c.fake.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.fake.KeepControl()
		if r.accepting.Load() {
			return nil, nil, false
		}
		for _, tp := range req.(*kmsg.ProduceRequest).Topics {
			if tp.Topic == topic {
				r.refused.Add(1)
				return nil, errors.New("produce refused"), true
			}
		}
		return nil, nil, false
	})
	return r
}

func (r *refusal) accept() { r.accepting.Store(true) }

// poisonFirst returns a handler that fails message 0 permanently and hands
// the others to rec.
func poisonFirst(rec *recorder) func(context.Context, kafka.Message) error {
	return func(ctx context.Context, m kafka.Message) error {
		if m.Offset == 0 {
			return flexkafka.Permanent(errors.New("unknown order"))
		}
		return rec.handle(ctx, m)
	}
}

func checkCtx(w *flexkafka.Consumer) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return w.Check(ctx)
}

// TestDeadLetterWriteRetried: while the broker refuses the dead-letter
// write, the consumer keeps running, holds the partition, fails Check with
// the write error and commits nothing; once the broker accepts, the dead
// letter lands exactly once with its headers, then the offset is
// committed and Check passes. One log line says when the write retries
// start and one when it recovers.
func TestDeadLetterWriteRetried(t *testing.T) {
	c, topics := newCluster(t, 1, "dlwrite", "dlwrite-dlq")
	r := refuseProduce(t, c, topics[1])
	produce(t, c, topics[0], 0, 2)
	group := groupID(t)
	logs := newLogCounter()
	rec := newRecorder()
	w, err := flexkafka.NewConsumer(poisonFirst(rec), append(fastOptions(c, group, topics[0]),
		flexkafka.WithDeadLetterTopic(topics[1]), flexkafka.WithLogger(slog.New(logs)))...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	eventually(t, "Check to report the dead-letter write retried", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run returned while the dead-letter write was refused: %v", err)
		default:
		}
		return errors.Is(checkCtx(w), flexkafka.ErrRetrying)
	})
	eventually(t, "a retried write", func() bool { return w.Stats().DeadLetterRetries > 0 })
	select {
	case err := <-done:
		t.Fatalf("Run returned while the dead-letter write was refused: %v", err)
	default:
	}
	st := w.Stats()
	if len(st.Retrying) != 1 || st.Retrying[0].Offset != 0 || !strings.Contains(st.Retrying[0].LastError.Error(), `dead-letter to "`+topics[1]+`"`) {
		t.Errorf("Stats().Retrying = %v, want message 0 with the dead-letter write error", st.Retrying)
	}
	if got := st.Topics[topics[0]].DeadLetterRetries; got == 0 {
		t.Errorf("Stats().Topics[%q].DeadLetterRetries = 0, want the retries counted", topics[0])
	}
	if got := committed(t, c, group, topics[0], 1)[0]; got > 0 {
		t.Fatalf("committed %d while the dead letter was refused", got)
	}
	if got := rec.handled(); got != 0 {
		t.Fatalf("handled %d messages past the refused dead letter: the partition must be held", got)
	}
	if r.refused.Load() == 0 {
		t.Fatal("no produce request was refused")
	}

	r.accept()
	waitFor(t, rec.at(1), "the message after the dead letter")
	eventually(t, "both offsets committed", func() bool { return committed(t, c, group, topics[0], 1)[0] == 2 })
	dead := readAll(t, c, topics[1])
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want exactly 1", len(dead))
	}
	for key, want := range map[string]string{
		flexkafka.HeaderDLQTopic:     topics[0],
		flexkafka.HeaderDLQPartition: "0",
		flexkafka.HeaderDLQOffset:    "0",
		flexkafka.HeaderDLQAttempts:  "1",
		flexkafka.HeaderDLQGroup:     group,
	} {
		if got := header(dead[0], key); got != want {
			t.Errorf("dead letter header %s = %q, want %q", key, got, want)
		}
	}
	if got := header(dead[0], flexkafka.HeaderDLQError); !strings.Contains(got, "unknown order") {
		t.Errorf("dead letter error header %q, want the handler's error", got)
	}
	eventually(t, "Check to pass", func() bool { return checkCtx(w) == nil })
	if err := haltNow(t, w); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	if err := waitFor(t, done, "Run"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := w.Stats(); st.DeadLettered != 1 || st.Messages != 1 || len(st.Retrying) != 0 {
		t.Errorf("Stats = %+v, want 1 dead letter, 1 message, nothing retrying", st)
	}
	for _, prefix := range []string{"flexkafka: dead-letter write failing", "flexkafka: dead-letter write recovered"} {
		if got := logs.count(prefix); got != 1 {
			t.Errorf("%d log lines %q, want 1", got, prefix)
		}
	}
}

// TestHaltDuringDeadLetterRetry: Halt interrupts the wait between
// dead-letter writes at once and leaves the message uncommitted, without
// a dead letter; after a restart the message is dead-lettered and
// committed. The backoff is an hour and Halt's deadline further than the
// test waits: only the interruption lets Halt return in time, without
// error.
func TestHaltDuringDeadLetterRetry(t *testing.T) {
	c, topics := newCluster(t, 1, "dlhalt", "dlhalt-dlq")
	r := refuseProduce(t, c, topics[1])
	produce(t, c, topics[0], 0, 1)
	group := groupID(t)
	w, err := flexkafka.NewConsumer(poisonFirst(newRecorder()), append(fastOptions(c, group, topics[0]),
		flexkafka.WithDeadLetterTopic(topics[1]), flexkafka.WithBackoff(time.Hour, time.Hour))...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	eventually(t, "the dead-letter write in backoff", func() bool { return w.Stats().DeadLetterRetries == 1 })
	halted := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*waitTimeout)
		defer cancel()
		halted <- w.Halt(ctx)
	}()
	if err := waitFor(t, halted, "Halt to interrupt the dead-letter retries"); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	if err := waitFor(t, done, "Run"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := committed(t, c, group, topics[0], 1)[0]; got > 0 {
		t.Fatalf("committed %d: the message was committed without its dead letter", got)
	}

	r.accept()
	w2, err := flexkafka.NewConsumer(poisonFirst(newRecorder()), append(fastOptions(c, group, topics[0]),
		flexkafka.WithDeadLetterTopic(topics[1]))...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, w2)
	eventually(t, "the message dead-lettered and committed after the restart", func() bool {
		return committed(t, c, group, topics[0], 1)[0] == 1
	})
	if dead := readAll(t, c, topics[1]); len(dead) != 1 {
		t.Fatalf("%d dead letters, want exactly 1", len(dead))
	}
}

// messageTooLarge is Kafka's MESSAGE_TOO_LARGE error code.
const messageTooLarge = 10

// TestDeadLetterTooLargeStops: a dead letter the broker rejects as too
// large can never be written: it is not retried, the consumer stops with
// an error saying so, and the message stays uncommitted.
func TestDeadLetterTooLargeStops(t *testing.T) {
	c, topics := newCluster(t, 1, "dlbig", "dlbig-dlq")
	if c.fake == nil {
		t.Skip("makes the broker reject produce requests: kfake only")
	}
	produce(t, c, topics[0], 0, 1)
	var rejected atomic.Int64
	c.fake.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.fake.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		if len(pr.Topics) != 1 || pr.Topics[0].Topic != topics[1] {
			return nil, nil, false
		}
		rejected.Add(1)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = topics[1]
		for _, p := range pr.Topics[0].Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, messageTooLarge
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
		return resp, nil, true
	})
	group := groupID(t)
	w, err := flexkafka.NewConsumer(poisonFirst(newRecorder()), append(fastOptions(c, group, topics[0]),
		flexkafka.WithDeadLetterTopic(topics[1]))...)
	if err != nil {
		t.Fatal(err)
	}
	err = waitFor(t, running(t, w), "Run to stop on the permanent write error")
	var herr *flexkafka.HandlerError
	if !errors.As(err, &herr) || !errors.Is(err, kafka.MessageSizeTooLarge) || !strings.Contains(err.Error(), `dead-letter to "`+topics[1]+`" failed`) {
		t.Fatalf("Run = %v, want a *HandlerError naming the dead-letter topic and wrapping kafka.MessageSizeTooLarge", err)
	}
	if st := w.Stats(); st.DeadLetterRetries != 0 || st.DeadLettered != 0 {
		t.Errorf("Stats = %+v, want no dead-letter retry and no dead letter", st)
	}
	if got := committed(t, c, group, topics[0], 1)[0]; got > 0 {
		t.Fatalf("committed %d: the message was committed without its dead letter", got)
	}
}

// TestHaltCancelsRetriedDeadLetterWrite: Halt cancels a retried
// dead-letter write that the broker holds unanswered, rather than wait for
// the writer's own timeouts, and leaves the message uncommitted. The
// broker refuses the first write and holds every later one; Halt's
// deadline and the writer's timeouts are further than the test waits. The
// writer is the test's own, which the consumer does not close: closing
// kafka-go's writer waits for the writes it holds.
func TestHaltCancelsRetriedDeadLetterWrite(t *testing.T) {
	c, topics := newCluster(t, 1, "dlheld", "dlheld-dlq")
	if c.fake == nil {
		t.Skip("makes the broker hold produce requests: kfake only")
	}
	produce(t, c, topics[0], 0, 1)
	var w atomic.Pointer[flexkafka.Consumer]
	held, released := make(chan struct{}), make(chan struct{})
	var heldOnce, releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(released) }) }
	t.Cleanup(release)
	c.fake.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.fake.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		if len(pr.Topics) != 1 || pr.Topics[0].Topic != topics[1] || isDone(released) {
			return nil, nil, false
		}
		if w.Load().Stats().DeadLetterRetries == 0 {
			return nil, errors.New("produce refused"), true
		}
		heldOnce.Do(func() { close(held) })
		c.fake.SleepControl(func() { <-released })
		return nil, nil, false
	})
	dlw := &kafka.Writer{Addr: kafka.TCP(c.brokers...), Transport: c.tr, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, MaxAttempts: 1,
		ReadTimeout: time.Hour, WriteTimeout: time.Hour} // only a cancelled context ends a held write
	t.Cleanup(func() { dlw.Close() })
	t.Cleanup(release) // before the writer closes: cleanups run last first
	group := groupID(t)
	consumer, err := flexkafka.NewConsumer(poisonFirst(newRecorder()), append(fastGroupOptions(c, group, topics[0]),
		flexkafka.WithMiddleware(flexkafka.DeadLetter(topics[1], dlw), flexkafka.Retry(flexkafka.RetryPolicy{})))...)
	if err != nil {
		t.Fatal(err)
	}
	w.Store(consumer)
	done := running(t, consumer)
	waitFor(t, held, "a retried dead-letter write held by the broker")
	halted := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*waitTimeout)
		defer cancel()
		halted <- consumer.Halt(ctx)
	}()
	if err := waitFor(t, halted, "Halt to cancel the held dead-letter write"); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	if err := waitFor(t, done, "Run"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := committed(t, c, group, topics[0], 1)[0]; got > 0 {
		t.Fatalf("committed %d: the message was committed without its dead letter", got)
	}
}

// TestDeadLetterTopicCreatedLater: a dead-letter topic that does not exist
// is not a permanent failure: the write is retried, holding the partition,
// and lands once the topic is created.
func TestDeadLetterTopicCreatedLater(t *testing.T) {
	c, topics := newCluster(t, 1, "dllater")
	if c.fake == nil {
		t.Skip("creates the dead-letter topic during the test: kfake only")
	}
	dlq := topics[0] + "-dlq"
	produce(t, c, topics[0], 0, 1)
	group := groupID(t)
	w, err := flexkafka.NewConsumer(poisonFirst(newRecorder()), append(fastOptions(c, group, topics[0]),
		flexkafka.WithDeadLetterTopic(dlq))...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	eventually(t, "the dead-letter write retried", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run returned while the dead-letter topic was missing: %v", err)
		default:
		}
		return w.Stats().DeadLetterRetries > 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(c.brokers...), Transport: c.tr}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: dlq, NumPartitions: 1, ReplicationFactor: 1}}})
	if err != nil || resp.Errors[dlq] != nil {
		t.Fatalf("create %s: %v %v", dlq, err, resp)
	}
	eventually(t, "the message dead-lettered and committed", func() bool { return committed(t, c, group, topics[0], 1)[0] == 1 })
	if dead := readAll(t, c, dlq); len(dead) != 1 {
		t.Fatalf("%d dead letters, want exactly 1", len(dead))
	}
}

// notEnoughReplicas is Kafka's NOT_ENOUGH_REPLICAS error code, retriable.
const notEnoughReplicas = 19

// TestDeadLetterBatchPartlyWritten: when a batch's dead letters were
// written to one partition of the dead-letter topic and refused by
// another, only the refused one is written again: every dead letter lands
// exactly once.
func TestDeadLetterBatchPartlyWritten(t *testing.T) {
	c, topics := newCluster(t, 1, "dlpart")
	if c.fake == nil {
		t.Skip("makes the broker refuse one partition: kfake only")
	}
	// Three partitions: the consumer's writer (CRC32) puts key k0 on
	// partition 0 and k1 on partition 1.
	dlq := topics[0] + "-dlq"
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(c.brokers...), Transport: c.tr}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: dlq, NumPartitions: 3, ReplicationFactor: 1}}})
	if err != nil || resp.Errors[dlq] != nil {
		t.Fatalf("create %s: %v %v", dlq, err, resp)
	}
	var accepting atomic.Bool
	c.fake.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.fake.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		if accepting.Load() || len(pr.Topics) != 1 || pr.Topics[0].Topic != dlq ||
			len(pr.Topics[0].Partitions) != 1 || pr.Topics[0].Partitions[0].Partition != 1 {
			return nil, nil, false
		}
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = dlq
		rp := kmsg.NewProduceResponseTopicPartition()
		rp.Partition, rp.ErrorCode = 1, notEnoughReplicas
		rt.Partitions = append(rt.Partitions, rp)
		resp.Topics = append(resp.Topics, rt)
		return resp, nil, true
	})
	produce(t, c, topics[0], 0, 2)
	group := groupID(t)
	w, err := flexkafka.NewBatchConsumer(func(context.Context, []kafka.Message) error {
		return flexkafka.Permanent(errors.New("bulk insert rejected"))
	}, append(fastOptions(c, group, topics[0]), flexkafka.WithMaxBatch(2, waitTimeout),
		flexkafka.WithDeadLetterTopic(dlq))...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, w)
	eventually(t, "the dead-letter write retried", func() bool { return w.Stats().DeadLetterRetries > 0 })
	accepting.Store(true)
	eventually(t, "the batch dead-lettered and committed", func() bool { return committed(t, c, group, topics[0], 1)[0] == 2 })
	perPartition := map[int]int{}
	for _, m := range readAll(t, c, dlq) {
		perPartition[m.Partition]++
	}
	if want := map[int]int{0: 1, 1: 1}; !maps.Equal(perPartition, want) {
		t.Fatalf("dead letters per partition %v, want %v: each exactly once", perPartition, want)
	}
}
