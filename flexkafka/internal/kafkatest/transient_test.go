package kafkatest_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

// TestDatabaseOutage: the handler fails for 10 s, as if its database were
// down, then succeeds. Nothing is dead-lettered, every message is handled,
// the order per key holds, Check reports the stalled partitions while the
// outage lasts, and the log says once per partition when retrying starts
// and when it recovers. (The old policy dead-lettered after 3 attempts,
// about a second.)
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	testOutage(t, 10*time.Second)
}

func testOutage(t *testing.T, outage time.Duration) {
	const partitions, n, keys = 4, 40, 10
	c, topics := newCluster(t, partitions, "outage", "outage-dlq")
	produceKeyed(t, c, topics[0], n, keys)
	dbUp := make(chan struct{})
	var outageOnce sync.Once
	order := newKeyOrder()
	logs := newLogCounter()
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		outageOnce.Do(func() { time.AfterFunc(outage, func() { close(dbUp) }) })
		select {
		case <-dbUp:
			order.handled(m)
			return nil
		default:
			return errors.New("db: connection refused")
		}
	}, append(fastOptions(c, groupID(t), topics[0]),
		flexkafka.WithBackoff(5*time.Millisecond, 100*time.Millisecond),
		flexkafka.WithDeadLetterTopic(topics[1]),
		flexkafka.WithLogger(slog.New(logs)))...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var checkErr error
	eventually(t, "Check to report every partition retrying", func() bool {
		checkErr = w.Check(ctx)
		return len(w.Stats().Retrying) == partitions
	})
	select {
	case <-dbUp:
		t.Fatalf("the outage ended before Check reported it")
	default:
	}
	checkErr = w.Check(ctx)
	if !errors.Is(checkErr, flexkafka.ErrRetrying) || !strings.Contains(checkErr.Error(), topics[0]+"/") ||
		!strings.Contains(checkErr.Error(), "db: connection refused") || !strings.Contains(checkErr.Error(), "attempts") {
		t.Errorf("Check during the outage = %v, want ErrRetrying naming the partition, attempts and the error", checkErr)
	}
	for _, r := range w.Stats().Retrying {
		if r.Topic != topics[0] || r.Attempts < 1 || r.Since.IsZero() || r.LastError == nil {
			t.Errorf("Retrying = %+v, want topic, attempts, since and the last error", r)
		}
	}

	eventually(t, "every message handled after the outage", func() bool { return order.total() == n })
	eventually(t, "Check passing again", func() bool { return w.Check(ctx) == nil })
	if err := haltNow(t, w); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	if err := waitFor(t, done, "Run"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := order.check(n); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.DeadLettered != 0 || len(readAll(t, c, topics[1])) != 0 {
		t.Fatalf("dead-lettered %d messages during a transient outage", st.DeadLettered)
	}
	if st.Retries == 0 || st.Topics[topics[0]].Retries != st.Retries || st.Messages != n {
		t.Errorf("Stats = %+v, want retries counted for %s and %d messages", st, topics[0], n)
	}
	started, recovered := logs.count("flexkafka: handler failing; retrying"), logs.count("flexkafka: handler recovered")
	if started != partitions || recovered != partitions {
		t.Errorf("logged %d retry starts and %d recoveries for %d retries, want one each per partition (%d)", started, recovered, st.Retries, partitions)
	}
}

// TestPermanentFailuresDeadLetteredAtOnce: a Permanent error, an error the
// classifier marks permanent and a panic are dead-lettered after exactly
// one attempt, with headers saying so, and the partition moves on.
func TestPermanentFailuresDeadLetteredAtOnce(t *testing.T) {
	c, topics := newCluster(t, 1, "perm", "perm-dlq")
	produce(t, c, topics[0], 0, 6)
	group := groupID(t)
	errMalformed := errors.New("malformed")
	var mu sync.Mutex
	calls := map[string]int{}
	rec := newRecorder()
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		mu.Lock()
		calls[string(m.Value)]++
		mu.Unlock()
		switch string(m.Value) {
		case "1":
			return flexkafka.Permanent(errors.New("unknown order"))
		case "3":
			panic("nil map")
		case "4":
			return errMalformed
		}
		return rec.handle(ctx, m)
	}, append(fastOptions(c, group, topics[0]), flexkafka.WithDeadLetterTopic(topics[1]),
		flexkafka.WithPermanentFunc(func(err error) bool { return errors.Is(err, errMalformed) }))...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	waitFor(t, rec.at(3), "the good messages")
	eventually(t, "everything committed", func() bool { return committed(t, c, group, topics[0], 1)[0] == 6 })
	if err := haltNow(t, w); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	waitFor(t, done, "Run")
	mu.Lock()
	for _, v := range []string{"1", "3", "4"} {
		if calls[v] != 1 {
			t.Errorf("message %s handled %d times, want exactly 1", v, calls[v])
		}
	}
	mu.Unlock()
	dead := readAll(t, c, topics[1])
	if len(dead) != 3 {
		t.Fatalf("%d dead letters, want 3", len(dead))
	}
	for _, m := range dead {
		if got := header(m, flexkafka.HeaderDLQAttempts); got != "1" {
			t.Errorf("dead letter %s: attempts %q, want 1", m.Value, got)
		}
		if _, err := time.Parse(time.RFC3339Nano, header(m, flexkafka.HeaderDLQTime)); err != nil {
			t.Errorf("dead letter %s: time header: %v", m.Value, err)
		}
		if got := header(m, flexkafka.HeaderDLQGroup); got != group {
			t.Errorf("dead letter %s: group %q, want %q", m.Value, got, group)
		}
	}
	if st := w.Stats(); st.Retries != 0 || st.DeadLettered != 3 || st.Messages != 3 {
		t.Errorf("Stats = %+v, want no retry, 3 dead letters, 3 messages", st)
	}
}

// TestMaxRetryTime: with a limit on the retry time, a message that keeps
// failing is dead-lettered once it is reached, with every attempt counted.
func TestMaxRetryTime(t *testing.T) {
	c, topics := newCluster(t, 1, "limit", "limit-dlq")
	produce(t, c, topics[0], 0, 2)
	var calls atomic.Int32
	rec := newRecorder()
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		if m.Offset == 0 {
			calls.Add(1)
			return errors.New("still failing")
		}
		return rec.handle(ctx, m)
	}, append(fastOptions(c, groupID(t), topics[0]), flexkafka.WithDeadLetterTopic(topics[1]),
		flexkafka.WithMaxRetryTime(50*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, w)
	waitFor(t, rec.at(1), "the next message")
	dead := readAll(t, c, topics[1])
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	if got, want := header(dead[0], flexkafka.HeaderDLQAttempts), strconv.Itoa(int(calls.Load())); got != want || got == "1" {
		t.Errorf("attempts header %q, want %s (every call, more than one)", got, want)
	}
	if got := header(dead[0], flexkafka.HeaderDLQError); !strings.Contains(got, "gave up after retrying for 50ms") || !strings.Contains(got, "still failing") {
		t.Errorf("error header %q", got)
	}
}

// TestHaltDuringBackoff: Halt interrupts a retry's backoff at once, leaves
// the message uncommitted, and a new consumer of the group handles it. The
// backoff is an hour and Halt's deadline further than the test waits: only
// the interruption lets Halt return in time, without error.
func TestHaltDuringBackoff(t *testing.T) {
	c, topics := newCluster(t, 1, "backoff")
	produce(t, c, topics[0], 0, 1)
	group := groupID(t)
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		return errors.New("db: connection refused")
	}, append(fastOptions(c, group, topics...), flexkafka.WithBackoff(time.Hour, time.Hour))...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	eventually(t, "the message in backoff", func() bool { return len(w.Stats().Retrying) == 1 })
	halted := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*waitTimeout)
		defer cancel()
		halted <- w.Halt(ctx)
	}()
	if err := waitFor(t, halted, "Halt to interrupt the backoff"); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	if err := waitFor(t, done, "Run"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := committed(t, c, group, topics[0], 1)[0]; got > 0 {
		t.Fatalf("committed %d: the message in backoff was committed", got)
	}
	rec := newRecorder()
	w2, err := flexkafka.NewConsumer(rec.handle, fastOptions(c, group, topics...)...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, w2)
	waitFor(t, rec.at(1), "the message handled after the restart")
}

// TestAttemptsAcrossGenerations: a rebalance in the middle of the retries
// of a message does not restart its count: the dead-letter header gives
// every call, those of the first generation included.
func TestAttemptsAcrossGenerations(t *testing.T) {
	c, topics := newCluster(t, 1, "gens", "gens-other", "gens-dlq")
	produce(t, c, topics[0], 0, 1)
	group := groupID(t)
	var a *flexkafka.Consumer
	var calls, firstGen atomic.Int32
	var lastAttempt atomic.Int32
	handler := func(ctx context.Context, m kafka.Message) error {
		n := calls.Add(1)
		lastAttempt.Store(int32(flexkafka.Attempt(ctx)))
		if a.Stats().Rebalances < 2 {
			firstGen.Add(1)
			return errors.New("transient")
		}
		return flexkafka.Permanent(errors.New("poison, call " + strconv.Itoa(int(n))))
	}
	var err error
	a, err = flexkafka.NewConsumer(handler, append(fastOptions(c, group, topics[0]), flexkafka.WithDeadLetterTopic(topics[2]),
		flexkafka.WithBackoff(5*time.Millisecond, 10*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, a)
	eventually(t, "a few attempts in the first generation", func() bool { return calls.Load() >= 3 })
	// A member for another topic of the group makes it rebalance; a keeps
	// its partition.
	b, err := flexkafka.NewConsumer(nop, fastOptions(c, group, topics[1])...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, b)
	eventually(t, "the message dead-lettered", func() bool { return a.Stats().DeadLettered == 1 })
	dead := readAll(t, c, topics[2])
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	total := calls.Load()
	if got, want := header(dead[0], flexkafka.HeaderDLQAttempts), strconv.Itoa(int(total)); got != want {
		t.Errorf("attempts header %s, want %s (%d calls in the first generation)", got, want, firstGen.Load())
	}
	if got := lastAttempt.Load(); got != total {
		t.Errorf("Attempt(ctx) of the last call = %d, want %d", got, total)
	}
}
