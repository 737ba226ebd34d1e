package kafkatest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestRetryThenSucceed: a handler failing twice is retried and the message
// is handled once it succeeds.
func TestRetryThenSucceed(t *testing.T) {
	c, topics := newCluster(t, 1, "retry")
	produce(t, c, topics[0], 0, 3)
	var mu sync.Mutex
	calls := map[int64]int{}
	rec := newRecorder()
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		mu.Lock()
		calls[m.Offset]++
		n := calls[m.Offset]
		mu.Unlock()
		if m.Offset == 1 && n < 3 {
			return errors.New("transient")
		}
		return rec.handle(ctx, m)
	}, fastOptions(c, groupID(t), topics...)...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	waitFor(t, rec.at(3), "all handled")
	// The handler records a message before the consumer counts it: halt
	// so that the counters are final.
	if err := haltNow(t, w); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	waitFor(t, done, "Run")
	if err := rec.inOrder(); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Retries != 2 || st.Errors != 2 || st.Messages != 3 {
		t.Fatalf("Stats = %+v, want 2 retries, 2 errors, 3 messages", st)
	}
}

// TestDeadLetter: a message failing every attempt, or panicking, is
// published to the dead-letter topic with headers saying where it came
// from and why, and the consumer moves on.
func TestDeadLetter(t *testing.T) {
	c, topics := newCluster(t, 2, "orders", "orders-dlq")
	produce(t, c, topics[0], 0, 20)
	var logs syncBuffer
	rec := newRecorder()
	var mu sync.Mutex
	calls := map[string]int{}
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		mu.Lock()
		calls[string(m.Value)]++
		n := calls[string(m.Value)]
		mu.Unlock()
		switch string(m.Value) {
		case "7": // transient twice, then shown to be permanent
			if n < 3 {
				return errors.New("cannot handle 7 yet")
			}
			return flexkafka.Permanent(errors.New("cannot handle 7"))
		case "13":
			panic("boom 13")
		case "15":
			return flexkafka.Permanent(errors.New("malformed 15"))
		}
		return rec.handle(ctx, m)
	}, append(fastOptions(c, groupID(t), topics[0]),
		flexkafka.WithDeadLetterTopic(topics[1]),
		flexkafka.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	waitFor(t, rec.at(17), "the good messages handled")
	eventually(t, "3 dead-lettered", func() bool { return w.Stats().DeadLettered == 3 })
	haltNow(t, w)
	waitFor(t, done, "Run")

	dead := readAll(t, c, topics[1])
	if len(dead) != 3 {
		t.Fatalf("dead-letter topic has %d messages, want 3", len(dead))
	}
	want := map[string]struct{ attempts, err string }{
		"7":  {"3", "cannot handle 7"},
		"13": {"1", "boom 13"},
		"15": {"1", "malformed 15"},
	}
	for _, m := range dead {
		w, ok := want[string(m.Value)]
		if !ok {
			t.Errorf("unexpected dead letter %q", m.Value)
			continue
		}
		if got := header(m, flexkafka.HeaderDLQTopic); got != topics[0] {
			t.Errorf("%s: topic header %q, want %q", m.Value, got, topics[0])
		}
		if got := header(m, flexkafka.HeaderDLQAttempts); got != w.attempts {
			t.Errorf("%s: attempts header %q, want %s", m.Value, got, w.attempts)
		}
		if got := header(m, flexkafka.HeaderDLQError); !strings.Contains(got, w.err) {
			t.Errorf("%s: error header %q, want it to contain %q", m.Value, got, w.err)
		}
		if _, err := strconv.Atoi(header(m, flexkafka.HeaderDLQPartition)); err != nil {
			t.Errorf("%s: partition header: %v", m.Value, err)
		}
		if _, err := strconv.Atoi(header(m, flexkafka.HeaderDLQOffset)); err != nil {
			t.Errorf("%s: offset header: %v", m.Value, err)
		}
		if string(m.Key) != "k"+string(m.Value) {
			t.Errorf("dead letter key %q, want the original key", m.Key)
		}
	}
	st := w.Stats()
	if st.Retries != 2 || st.Messages != 17 || st.Topics[topics[0]].DeadLettered != 3 || st.Topics[topics[0]].Retries != 2 {
		t.Errorf("Stats = %+v, want 2 retries (for 7), 17 messages, 3 dead letters of %s", st, topics[0])
	}
	mu.Lock()
	if calls["13"] != 1 || calls["15"] != 1 {
		t.Errorf("the panic was handled %d times, the permanent error %d times; want 1 each", calls["13"], calls["15"])
	}
	mu.Unlock()
	if !strings.Contains(logs.String(), "boom 13") || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("the panic and its stack were not logged:\n%s", logs.String())
	}
}

// TestFailureStopsConsumer: without a dead-letter topic, a message failing
// permanently stops the consumer with a *HandlerError, and its offset is
// not committed, so a new consumer gets it again.
func TestFailureStopsConsumer(t *testing.T) {
	c, topics := newCluster(t, 1, "stop")
	produce(t, c, topics[0], 0, 5)
	group := groupID(t)
	boom := errors.New("boom")
	var calls atomic.Int32
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		if m.Offset == 2 {
			if calls.Add(1) == 1 {
				return errors.New("transient")
			}
			return flexkafka.Permanent(boom)
		}
		return nil
	}, fastOptions(c, group, topics...)...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	err = waitFor(t, done, "Run to stop")
	var herr *flexkafka.HandlerError
	if !errors.As(err, &herr) || !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want a *HandlerError wrapping boom", err)
	}
	if herr.Offset != 2 || herr.Attempts != 2 || herr.Topic != topics[0] {
		t.Errorf("HandlerError = %+v, want offset 2 after 2 attempts", herr)
	}
	if got := committed(t, c, group, topics[0], 1)[0]; got != 2 {
		t.Fatalf("committed %d, want 2 (the failed message stays uncommitted)", got)
	}
	if err := haltNow(t, w); err != nil {
		t.Errorf("Halt after Run stopped: %v", err)
	}

	again := make(chan int64, 1)
	w2, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		select {
		case again <- m.Offset:
		default:
		}
		return nil
	}, fastOptions(c, group, topics...)...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, w2)
	if got := waitFor(t, again, "redelivery"); got != 2 {
		t.Fatalf("restart began at offset %d, want 2", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPanicStops: a panic is an error like any other: with no dead-letter
// topic it stops the consumer, and the error keeps the panic value and
// stack.
func TestPanicStops(t *testing.T) {
	c, topics := newCluster(t, 1, "panic")
	produce(t, c, topics[0], 0, 1)
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		panic(io.ErrUnexpectedEOF)
	}, fastOptions(c, groupID(t), topics...)...)
	if err != nil {
		t.Fatal(err)
	}
	err = waitFor(t, running(t, w), "Run to stop")
	var perr *flex.PanicError
	if !errors.As(err, &perr) || !errors.Is(err, io.ErrUnexpectedEOF) || len(perr.Stack) == 0 {
		t.Fatalf("Run = %v, want a *flex.PanicError wrapping the panic value, with a stack", err)
	}
	if want := "flex: " + w.String() + " handler panicked: unexpected EOF"; perr.Error() != want {
		t.Errorf("panic error %q, want %q: the consumer's name, one line", perr.Error(), want)
	}
	if !strings.Contains(err.Error(), "panicked") || !strings.Contains(err.Error(), "after 1 attempts") {
		t.Errorf("error text %q", err)
	}
	if flexkafka.Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
}
