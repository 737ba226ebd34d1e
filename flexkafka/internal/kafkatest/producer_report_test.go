package kafkatest_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

// haltWithin halts p with a deadline d away.
func haltWithin(p *flexkafka.Producer, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return p.Halt(ctx)
}

// haltAgain waits, with a second Halt, for the writer that the first one
// abandoned to close: cut off from the brokers, it must not retry its
// writes for long. It checks that nothing more was counted or reported
// meanwhile (a late completion of a reported message changes nothing) and
// that Halt returns the same error every time.
func haltAgain(t *testing.T, p *flexkafka.Producer, r *reports, first error) {
	t.Helper()
	st, n := p.Stats(), r.count()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := p.Halt(ctx); err == nil || err.Error() != first.Error() {
		t.Errorf("second Halt = %v, want the first one's error %v", err, first)
	}
	if ctx.Err() != nil {
		t.Errorf("the writer abandoned by Halt did not close within %v", waitTimeout)
	}
	if got := p.Stats(); got != st {
		t.Errorf("Stats changed after Halt returned: %+v, then %+v", st, got)
	}
	if got := r.count(); got != n {
		t.Errorf("%d messages reported after Halt returned", got-n)
	}
}

// TestProducerHaltDeadlineBrokerDead: async messages accepted at full
// speed, then the broker stops answering and dies just before a Halt given
// one second. When Halt returns, every accepted message was acknowledged or
// given to the callback, exactly once, and Halt's error counts those
// reported during it.
func TestProducerHaltDeadlineBrokerDead(t *testing.T) {
	const writers, each = 4, 2000
	c, topics := newCluster(t, 4, "dead")
	s := stallProduce(t, c, 4)
	r := newReports()
	p := newTestProducer(t, c, topics[0], flexkafka.WithAsync(r.onError), flexkafka.WithMaxBuffered(writers*each))
	done := running(t, p)
	accepted := produceAll(t, p, writers, each, "m")
	waitFor(t, s.held, "a held produce request")
	before := r.count()
	c.fake.Close()

	err := haltWithin(p, time.Second)
	reported := checkOutcomes(t, p, r, accepted)
	if n := len(reported) - before; n == 0 || !isNotAcknowledged(err, n) {
		t.Errorf("Halt = %v, want ErrNotAcknowledged counting the %d messages reported during it", err, n)
	}
	t.Logf("%d accepted, %d acknowledged, %d reported; Halt: %v", len(accepted), p.Stats().Messages, len(reported), err)
	haltAgain(t, p, r, err)
	if err := waitFor(t, done, "Run"); err != nil {
		t.Errorf("Run = %v, want nil after Halt", err)
	}
}

// TestProducerHaltDeadlineSlowBroker: async messages accepted at full
// speed while the broker, alive, holds the produce requests past the halt
// deadline. Every accepted message has exactly one outcome when Halt
// returns; those the broker answers after the deadline are neither counted
// nor reported again; and every message acknowledged is in the topic.
func TestProducerHaltDeadlineSlowBroker(t *testing.T) {
	const writers, each = 4, 2000
	c, topics := newCluster(t, 4, "slow")
	s := stallProduce(t, c, 8)
	r := newReports()
	p := newTestProducer(t, c, topics[0], flexkafka.WithAsync(r.onError), flexkafka.WithMaxBuffered(writers*each))
	accepted := produceAll(t, p, writers, each, "m")
	waitFor(t, s.held, "a held produce request")
	before := r.count() // none, unless held requests outlived kafka-go's 10 s write timeout

	err := haltWithin(p, time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Halt = %v, want the deadline's error (the broker holds the writes)", err)
	}
	reported := checkOutcomes(t, p, r, accepted)
	if n := len(reported) - before; n == 0 || !isNotAcknowledged(err, n) {
		t.Errorf("Halt = %v, want ErrNotAcknowledged counting the %d messages reported during it", err, n)
	}
	t.Logf("%d accepted, %d acknowledged, %d reported; Halt: %v", len(accepted), p.Stats().Messages, len(reported), err)

	s.release() // the broker answers the held requests: too late
	haltAgain(t, p, r, err)

	written := map[string]bool{}
	for _, m := range readAll(t, c, topics[0]) {
		written[string(m.Value)] = true
	}
	for v := range accepted {
		if !reported[v] && !written[v] {
			t.Fatalf("message %s neither reported nor written", v)
		}
	}
}

// TestProducerHaltFlushFails: a flush that fails (the broker is gone, one
// write attempt) makes Halt return an error counting the messages, and the
// callback gets each of them. kafka-go's Writer.Close returns nil.
func TestProducerHaltFlushFails(t *testing.T) {
	c, topics := newCluster(t, 1, "flushfail")
	if c.fake == nil {
		t.Skip("stops the broker: kfake only")
	}
	r := newReports()
	// The batches neither fill nor time out: only Halt's flush writes them.
	p := newTestProducer(t, c, topics[0], flexkafka.WithAsync(r.onError), flexkafka.WithWriteAttempts(1),
		flexkafka.WithBatch(1000, time.Hour))
	accepted := produceAll(t, p, 1, 3, "f")
	c.fake.Close()

	err := haltNow(t, p)
	if !isNotAcknowledged(err, 3) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Halt = %v, want ErrNotAcknowledged counting 3 messages, before the deadline", err)
	}
	if reported := checkOutcomes(t, p, r, accepted); len(reported) != 3 {
		t.Errorf("%d messages reported, want 3", len(reported))
	}
}

// TestProduceSyncHaltDeadline: a synchronous Produce still waiting when
// Halt gives up returns the failure of its message, which Halt counts.
func TestProduceSyncHaltDeadline(t *testing.T) {
	c, topics := newCluster(t, 1, "syncdead")
	s := stallProduce(t, c, 0)
	p := newTestProducer(t, c, topics[0])
	result := make(chan error, 1)
	go func() { result <- p.Produce(context.Background(), kafka.Message{Value: []byte("held")}) }()
	waitFor(t, s.held, "the held write")

	herr := haltWithin(p, 100*time.Millisecond)
	err := waitFor(t, result, "Produce")
	var werrs kafka.WriteErrors
	if !errors.Is(err, flexkafka.ErrNotAcknowledged) || !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &werrs) {
		t.Errorf("Produce = %v, want a kafka.WriteErrors wrapping ErrNotAcknowledged and the deadline", err)
	}
	if !isNotAcknowledged(herr, 1) {
		t.Errorf("Halt = %v, want ErrNotAcknowledged counting 1 message", herr)
	}
	if st := p.Stats(); st != (flexkafka.ProducerStats{Errors: 1, Accepted: 1}) {
		t.Errorf("Stats = %+v, want 1 accepted, 1 error", st)
	}
}

// TestProduceSyncCancelled: a synchronous Produce whose context is done
// before the acknowledgement returns the context's error, but its message
// stays buffered, not failed, and is counted as acknowledged when the
// broker answers.
func TestProduceSyncCancelled(t *testing.T) {
	c, topics := newCluster(t, 1, "synccancel")
	s := stallProduce(t, c, 0)
	p := newTestProducer(t, c, topics[0])
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- p.Produce(ctx, kafka.Message{Value: []byte("late")}) }()
	waitFor(t, s.held, "the held write")
	cancel()
	if err := waitFor(t, result, "Produce"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Produce = %v, want context.Canceled", err)
	}
	if st := p.Stats(); st != (flexkafka.ProducerStats{Accepted: 1, Buffered: 1}) {
		t.Errorf("Stats = %+v, want the message buffered, not failed", st)
	}
	s.release()
	eventually(t, "the late acknowledgement counted", func() bool { return p.Stats().Messages == 1 })
	if err := haltNow(t, p); err != nil {
		t.Errorf("Halt: %v", err)
	}
	if st := p.Stats(); st != (flexkafka.ProducerStats{Messages: 1, Accepted: 1}) {
		t.Errorf("Stats = %+v, want 1 acknowledged", st)
	}
	if got := readAll(t, c, topics[0]); len(got) != 1 || string(got[0].Value) != "late" {
		t.Errorf("topic holds %d messages, want the one written late", len(got))
	}
}

// TestProduceDoneContext: Produce with a context already done writes
// nothing, in either mode, though the writer would queue the messages.
func TestProduceDoneContext(t *testing.T) {
	c, topics := newCluster(t, 1, "donectx")
	for _, async := range []bool{false, true} {
		var opts []flexkafka.ProducerOption
		if async {
			opts = append(opts, flexkafka.WithAsync(nil))
		}
		p := newTestProducer(t, c, topics[0], opts...)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := p.Produce(ctx, kafka.Message{Value: []byte("warm")}); err != nil { // metadata now cached
			t.Fatalf("Produce: %v", err)
		}
		done, cancelDone := context.WithCancel(context.Background())
		cancelDone()
		if err := p.Produce(done, kafka.Message{Value: []byte("never")}); !errors.Is(err, context.Canceled) {
			t.Errorf("async=%v: Produce with a done context = %v, want context.Canceled", async, err)
		}
		if err := haltNow(t, p); err != nil {
			t.Fatalf("Halt: %v", err)
		}
		if st := p.Stats(); st != (flexkafka.ProducerStats{Messages: 1, Accepted: 1}) {
			t.Errorf("async=%v: Stats = %+v, want only the first message", async, st)
		}
	}
	for _, m := range readAll(t, c, topics[0]) {
		if string(m.Value) == "never" {
			t.Fatal("a message given with a done context was written")
		}
	}
}

// TestProduceSyncCancelledFailureLogged: the failure of a message whose
// synchronous Produce stopped waiting is counted and logged, since nobody
// else hears of it.
func TestProduceSyncCancelledFailureLogged(t *testing.T) {
	c, topics := newCluster(t, 1, "syncorphan")
	s := stallProduce(t, c, 0)
	logs := newLogSignal("flexkafka: write failed after its synchronous Produce stopped waiting")
	p := newTestProducer(t, c, topics[0], flexkafka.WithWriteAttempts(1), flexkafka.WithLogger(slog.New(logs)))
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- p.Produce(ctx, kafka.Message{Value: []byte("orphan")}) }()
	waitFor(t, s.held, "the held write")
	cancel()
	if err := waitFor(t, result, "Produce"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Produce = %v, want context.Canceled", err)
	}
	c.fake.Close() // the held write fails
	waitFor(t, logs.ch, "the failure logged")
	if st := p.Stats(); st != (flexkafka.ProducerStats{Errors: 1, Accepted: 1}) {
		t.Errorf("Stats = %+v, want 1 error", st)
	}
	haltNow(t, p)
}

// TestProducerRunCancelled: cancelling Run's context halts the producer at
// once, as a Halt past its deadline: Run's error counts the messages the
// broker has not acknowledged, and each was given to the callback.
func TestProducerRunCancelled(t *testing.T) {
	c, topics := newCluster(t, 1, "runcancel")
	s := stallProduce(t, c, 0)
	r := newReports()
	p := newTestProducer(t, c, topics[0], flexkafka.WithAsync(r.onError))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	accepted := produceAll(t, p, 2, 50, "r")
	waitFor(t, s.held, "a held produce request")
	cancel()
	err := waitFor(t, done, "Run")
	if !errors.Is(err, context.Canceled) || !isNotAcknowledged(err, len(accepted)) {
		t.Errorf("Run = %v, want context.Canceled and ErrNotAcknowledged counting %d messages", err, len(accepted))
	}
	if reported := checkOutcomes(t, p, r, accepted); len(reported) != len(accepted) {
		t.Errorf("%d messages reported, want all %d", len(reported), len(accepted))
	}
}
