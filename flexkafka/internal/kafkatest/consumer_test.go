package kafkatest_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flex/flextest"
	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

func TestConsumerConformance(t *testing.T) {
	c, topics := newCluster(t, 2, "conformance")
	produce(t, c, topics[0], 0, 10)
	flextest.TestWorker(t, func(t *testing.T) flex.Worker {
		w, err := flexkafka.NewConsumer(func(context.Context, kafka.Message) error { return nil },
			fastOptions(c, groupID(t), topics...)...)
		if err != nil {
			t.Fatal(err)
		}
		return w
	})
}

// TestConsumeAll: every message is handled, in order within its partition,
// and committed when the consumer halts.
func TestConsumeAll(t *testing.T) {
	const n, partitions = 200, 4
	c, topics := newCluster(t, partitions, "all")
	produce(t, c, topics[0], 0, n)
	rec := newRecorder()
	group := groupID(t)
	w, err := flexkafka.NewConsumer(rec.handle, fastOptions(c, group, topics...)...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	waitFor(t, rec.at(n), "all messages handled")
	if err := haltNow(t, w); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	if err := waitFor(t, done, "Run"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	missing, dups := rec.check(0, n)
	if len(missing) > 0 || dups > 0 {
		t.Fatalf("missing %v, %d duplicates", missing, dups)
	}
	if err := rec.inOrder(); err != nil {
		t.Fatal(err)
	}
	var total int64
	for p, off := range committed(t, c, group, topics[0], partitions) {
		if off < 0 {
			t.Errorf("partition %d: nothing committed", p)
		}
		total += off
	}
	if total != n {
		t.Errorf("committed offsets add up to %d, want %d", total, n)
	}
	st := w.Stats()
	if st.Messages != n || st.Rebalances < 1 || st.Commits < 1 {
		t.Errorf("Stats = %+v, want %d messages, a rebalance, commits", st, n)
	}
}

// TestCommitOnlyHandled: while the handler is stuck on a message, commits
// go on for the rest but never move past that message's offset.
func TestCommitOnlyHandled(t *testing.T) {
	c, topics := newCluster(t, 1, "stuck")
	produce(t, c, topics[0], 0, 10)
	group := groupID(t)
	stuck := make(chan struct{})
	release := make(chan struct{})
	rec := newRecorder()
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		if m.Offset == 5 {
			close(stuck)
			<-release
		}
		return rec.handle(ctx, m)
	}, fastOptions(c, group, topics...)...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	waitFor(t, stuck, "handler to reach offset 5")
	// Wait until offsets 0-4 are committed: the commit loop must go on.
	eventually(t, "offsets before the stuck message committed", func() bool {
		s := w.Stats()
		return len(s.Partitions) == 1 && s.Partitions[0].Committed >= 5
	})
	if got := committed(t, c, group, topics[0], 1)[0]; got != 5 {
		t.Fatalf("committed %d while offset 5 is being handled, want 5", got)
	}
	close(release)
	waitFor(t, rec.at(10), "all handled")
	if err := haltNow(t, w); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	waitFor(t, done, "Run")
	if got := committed(t, c, group, topics[0], 1)[0]; got != 10 {
		t.Fatalf("committed %d after halt, want 10", got)
	}
}

// TestHaltMidwayAndRestart: halting in the middle and restarting in the
// same group loses nothing, with duplicates bounded by the in-flight
// count. Past the first third, the first consumer's handlers do their work
// (they record the message) and then hang until the halt deadline cancels
// them: the worst case, where work was done but not acknowledged.
func TestHaltMidwayAndRestart(t *testing.T) {
	const n, partitions, maxInFlight = 400, 4, 3
	c, topics := newCluster(t, partitions, "restart")
	produce(t, c, topics[0], 0, n)
	rec := newRecorder()
	group := groupID(t)
	opts := append(fastOptions(c, group, topics...), flexkafka.WithMaxInFlight(maxInFlight),
		flexkafka.WithHaltMargin(time.Second))
	first, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		rec.handle(ctx, m)
		if rec.handled() >= n/3 {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, first)
	waitFor(t, rec.at(n/3), "a third handled")
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := first.Halt(ctx); !errors.Is(err, flexkafka.ErrHandlersCancelled) {
		t.Fatalf("Halt = %v, want ErrHandlersCancelled (handlers were hanging)", err)
	}
	waitFor(t, done, "first Run")
	handledFirst := rec.handled()

	second, err := flexkafka.NewConsumer(rec.handle, opts...)
	if err != nil {
		t.Fatal(err)
	}
	done = running(t, second)
	eventually(t, "every message handled", func() bool {
		missing, _ := rec.check(0, n)
		return len(missing) == 0
	})
	if err := haltNow(t, second); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	waitFor(t, done, "second Run")
	missing, dups := rec.check(0, n)
	if len(missing) > 0 {
		t.Fatalf("lost %d messages: %v", len(missing), missing)
	}
	if dups < 1 || dups > maxInFlight {
		t.Fatalf("%d duplicates, want 1 to %d (the in-flight limit)", dups, maxInFlight)
	}
	t.Logf("first consumer handled %d, second %d, duplicates %d", handledFirst, second.Stats().Messages, dups)
}

// TestHaltDeadlineCancelsHandler: a handler still running near the halt
// deadline has its context cancelled, its message is not committed, and
// Halt says so.
func TestHaltDeadlineCancelsHandler(t *testing.T) {
	c, topics := newCluster(t, 1, "deadline")
	produce(t, c, topics[0], 0, 3)
	group := groupID(t)
	started := make(chan struct{})
	var cause atomic.Value
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		if m.Offset < 1 {
			return nil
		}
		close(started)
		<-ctx.Done()
		cause.Store(context.Cause(ctx))
		return ctx.Err()
	}, append(fastOptions(c, group, topics...), flexkafka.WithHaltMargin(time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	waitFor(t, started, "handler of offset 1")
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	err = w.Halt(ctx)
	if !errors.Is(err, flexkafka.ErrHandlersCancelled) {
		t.Fatalf("Halt = %v, want ErrHandlersCancelled", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Halt returned after its deadline: %v", err)
	}
	if got, _ := cause.Load().(error); !errors.Is(got, flexkafka.ErrHandlersCancelled) {
		t.Errorf("handler's context cause = %v, want ErrHandlersCancelled", got)
	}
	waitFor(t, done, "Run")
	if got := committed(t, c, group, topics[0], 1)[0]; got != 1 {
		t.Fatalf("committed %d, want 1 (offset 1 was abandoned)", got)
	}
}

// TestHaltDeadlineHandlerCompletes: a handler whose context is cancelled
// near the halt deadline but that completes anyway (returns nil) has
// handled its message: it is committed, and Halt does not claim it will be
// delivered again.
func TestHaltDeadlineHandlerCompletes(t *testing.T) {
	c, topics := newCluster(t, 1, "completes")
	produce(t, c, topics[0], 0, 1)
	group := groupID(t)
	started := make(chan struct{})
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		close(started)
		<-ctx.Done()
		return nil // finished the work regardless
	}, append(fastOptions(c, group, topics...), flexkafka.WithHaltMargin(time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	waitFor(t, started, "handler")
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := w.Halt(ctx); err != nil {
		t.Errorf("Halt = %v, want nil: the cancelled handler completed", err)
	}
	waitFor(t, done, "Run")
	if got := committed(t, c, group, topics[0], 1)[0]; got != 1 {
		t.Fatalf("committed %d, want 1 (the handler completed)", got)
	}
}

// TestHaltWaitsForHandler: without a deadline near, Halt lets a running
// handler finish and commits its message.
func TestHaltWaitsForHandler(t *testing.T) {
	c, topics := newCluster(t, 1, "wait")
	produce(t, c, topics[0], 0, 2)
	group := groupID(t)
	started, release := make(chan struct{}), make(chan struct{})
	var handled atomic.Int64
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		if m.Offset == 0 {
			close(started)
			<-release
		}
		handled.Add(1)
		return ctx.Err()
	}, fastOptions(c, group, topics...)...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	waitFor(t, started, "handler")
	halted := make(chan error, 1)
	go func() { halted <- w.Halt(context.Background()) }()
	select {
	case err := <-halted:
		t.Fatalf("Halt returned %v while a handler was running", err)
	case <-done:
		t.Fatal("Run returned while a handler was running")
	case <-time.After(50 * time.Millisecond): // no event marks "Halt is waiting"
	}
	close(release)
	if err := waitFor(t, halted, "Halt"); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	waitFor(t, done, "Run")
	if got := committed(t, c, group, topics[0], 1)[0]; got < 1 {
		t.Fatalf("committed %d, want the finished message (offset 0) committed", got)
	}
}

// TestHaltLeavesHandlerContextUntilDeadlineNear: with a deadline far
// off, Halt stops consuming but leaves the running handler's context alone,
// so the handler finishes and its message is committed. Meanwhile the
// consumer stays in its group: the generation does not end before the
// handler returns.
func TestHaltLeavesHandlerContextUntilDeadlineNear(t *testing.T) {
	c, topics := newCluster(t, 1, "notyet")
	produce(t, c, topics[0], 0, 1)
	group := groupID(t)
	draining := newLogSignal("flexkafka: stopping; draining", "stopped heartbeat")
	started, release := make(chan struct{}), make(chan struct{})
	cancelled := make(chan error, 1)
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		close(started)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			cancelled <- context.Cause(ctx)
			return ctx.Err()
		}
	}, append(fastOptions(c, group, topics...), flexkafka.WithHaltMargin(time.Second),
		flexkafka.WithHandlerTimeout(time.Minute), flexkafka.WithLogger(slog.New(draining)))...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	waitFor(t, started, "handler")
	select { // only what Halt causes counts
	case <-draining.ch:
	default:
	}
	halted := make(chan error, 1)
	go func() { halted <- haltNow(t, w) }() // a deadline waitTimeout away
	if got := waitFor(t, draining.ch, "Halt to begin draining"); got != "flexkafka: stopping; draining partitions while still a member of the group" {
		t.Fatalf("first event after Halt: %q, want the drain (the generation must not end under a running handler)", got)
	}
	select {
	case err := <-cancelled:
		t.Fatalf("handler's context cancelled (%v) with the halt deadline far off", err)
	default:
	}
	close(release)
	if err := waitFor(t, halted, "Halt"); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	waitFor(t, done, "Run")
	if got := committed(t, c, group, topics[0], 1)[0]; got != 1 {
		t.Fatalf("committed %d, want 1 (the handler finished)", got)
	}
}

// TestCancelRunContextCancelsHandlers: cancelling Run's context cancels the
// handlers' context and Run returns an error wrapping it.
func TestCancelRunContextCancelsHandlers(t *testing.T) {
	c, topics := newCluster(t, 1, "cancel")
	produce(t, c, topics[0], 0, 1)
	started := make(chan struct{})
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}, fastOptions(c, groupID(t), topics...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	waitFor(t, started, "handler")
	cancel()
	if err := waitFor(t, done, "Run"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	haltNow(t, w)
}

// TestTwoConsumersRebalance: two consumers of one group split the
// partitions, survive the rebalances of joining and leaving, and lose
// nothing.
func TestTwoConsumersRebalance(t *testing.T) {
	const partitions, batch = 4, 100
	c, topics := newCluster(t, partitions, "rebalance")
	group := groupID(t)
	var mu sync.Mutex
	byConsumer := map[string]map[int]bool{} // consumer -> partitions seen
	rec := newRecorder()
	handler := func(name string) flexkafka.Handler {
		return func(ctx context.Context, m kafka.Message) error {
			mu.Lock()
			if byConsumer[name] == nil {
				byConsumer[name] = map[int]bool{}
			}
			byConsumer[name][m.Partition] = true
			mu.Unlock()
			return rec.handle(ctx, m)
		}
	}
	a, err := flexkafka.NewConsumer(handler("a"), fastOptions(c, group, topics...)...)
	if err != nil {
		t.Fatal(err)
	}
	doneA := running(t, a)
	produce(t, c, topics[0], 0, batch)
	waitFor(t, rec.at(batch), "first batch by a")

	b, err := flexkafka.NewConsumer(handler("b"), fastOptions(c, group, topics...)...)
	if err != nil {
		t.Fatal(err)
	}
	doneB := running(t, b)
	waitFor(t, b.Ready(), "b joined")
	// Wait until the rebalance has split the partitions between a and b.
	eventually(t, "partitions split between a and b", func() bool {
		na, nb := len(a.Stats().Partitions), len(b.Stats().Partitions)
		return na+nb == partitions && na > 0 && nb > 0
	})
	produce(t, c, topics[0], batch, batch)
	waitFor(t, rec.at(2*batch), "second batch by a and b")
	mu.Lock()
	if len(byConsumer["b"]) == 0 {
		t.Errorf("b handled nothing after joining")
	}
	mu.Unlock()

	if err := haltNow(t, a); err != nil {
		t.Fatalf("Halt a: %v", err)
	}
	waitFor(t, doneA, "a's Run")
	produce(t, c, topics[0], 2*batch, batch)
	waitFor(t, rec.at(3*batch), "third batch by b alone")
	if err := haltNow(t, b); err != nil {
		t.Fatalf("Halt b: %v", err)
	}
	waitFor(t, doneB, "b's Run")

	missing, dups := rec.check(0, 3*batch)
	if len(missing) > 0 {
		t.Fatalf("lost %v", missing)
	}
	if err := rec.inOrder(); err != nil {
		t.Fatal(err)
	}
	if b.Stats().Rebalances < 2 {
		t.Errorf("b saw %d generations, want at least 2 (a left)", b.Stats().Rebalances)
	}
	t.Logf("duplicates %d; a: %d messages, b: %d", dups, a.Stats().Messages, b.Stats().Messages)
}

// TestReadyAndCheck: Check fails before the group is joined and after Run,
// and passes while consuming.
func TestReadyAndCheck(t *testing.T) {
	c, topics := newCluster(t, 1, "ready")
	w, err := flexkafka.NewConsumer(func(context.Context, kafka.Message) error { return nil },
		fastOptions(c, groupID(t), topics...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := w.Check(ctx); !errors.Is(err, flexkafka.ErrNotJoined) {
		t.Fatalf("Check before Run = %v, want ErrNotJoined", err)
	}
	done := running(t, w)
	waitFor(t, w.Ready(), "Ready")
	if err := w.Check(ctx); err != nil {
		t.Fatalf("Check while running: %v", err)
	}
	if got := w.String(); got == "" {
		t.Error("empty String")
	}
	haltNow(t, w)
	waitFor(t, done, "Run")
	if err := w.Check(ctx); !errors.Is(err, flexkafka.ErrNotJoined) {
		t.Fatalf("Check after Run = %v, want ErrNotJoined", err)
	}
}

// TestBrokerGone: with the broker gone, Check fails and Halt still returns
// by its deadline instead of hanging.
func TestBrokerGone(t *testing.T) {
	if os.Getenv(envTestBrokers) != "" {
		t.Skip("stops the broker: kfake only")
	}
	c, topics := newCluster(t, 2, "gone")
	produce(t, c, topics[0], 0, 5)
	rec := newRecorder()
	w, err := flexkafka.NewConsumer(rec.handle, fastOptions(c, groupID(t), topics...)...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	waitFor(t, rec.at(5), "messages handled")
	c.fake.Close()
	checkCtx, cancelCheck := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancelCheck()
	if err := w.Check(checkCtx); err == nil {
		t.Error("Check passed with the broker gone")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	halted := make(chan error, 1)
	go func() { halted <- w.Halt(ctx) }()
	err = waitFor(t, halted, "Halt with the broker gone")
	t.Logf("Halt: %v", err)
	waitFor(t, done, "Run with the broker gone")
}

func TestConsumerStatsLag(t *testing.T) {
	c, topics := newCluster(t, 2, "lag")
	produce(t, c, topics[0], 0, 10)
	group := groupID(t)
	release := make(chan struct{})
	handled := make(chan struct{}, 10)
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		<-release
		handled <- struct{}{}
		return nil
	}, append(fastOptions(c, group, topics...), flexkafka.WithMaxInFlight(1))...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	waitFor(t, w.Ready(), "Ready")
	// Lag is known before anything is handled: 10 messages in all.
	eventually(t, "a lag of 10", func() bool { return lagOf(w.Stats()) == 10 })
	close(release)
	for range 10 {
		waitFor(t, handled, "message handled")
	}
	// Once everything is handled and committed, the lag drops to 0.
	eventually(t, "a lag of 0", func() bool { return lagOf(w.Stats()) == 0 })
	st := w.Stats()
	if st.Messages != 10 || len(st.Partitions) != 2 {
		t.Errorf("Stats = %+v, want 10 messages over 2 partitions", st)
	}
	for _, p := range st.Partitions {
		if p.Committed < 0 || p.HighWaterMark != p.Committed || p.Topic != topics[0] {
			t.Errorf("partition stats %+v, want committed up to the high watermark", p)
		}
	}
	haltNow(t, w)
	waitFor(t, done, "Run")
	if got := w.Stats().Partitions; len(got) != 0 {
		t.Errorf("partitions after Run returned: %+v, want none", got)
	}
}

func lagOf(s flexkafka.ConsumerStats) int64 {
	var lag int64
	for _, p := range s.Partitions {
		if p.Lag < 0 {
			return -1
		}
		lag += p.Lag
	}
	return lag
}

// TestMaxInFlight: partitions are handled concurrently up to the limit and
// never beyond it.
func TestMaxInFlight(t *testing.T) {
	const partitions, limit, n = 8, 3, 80
	c, topics := newCluster(t, partitions, "inflight")
	produce(t, c, topics[0], 0, n)
	var inflight, peak atomic.Int64
	full := make(chan struct{}) // closed once limit handlers run at once
	var fullOnce sync.Once
	rec := newRecorder()
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		now := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if now <= p || peak.CompareAndSwap(p, now) {
				break
			}
		}
		if now == limit {
			fullOnce.Do(func() { close(full) })
		}
		select { // the first calls wait until limit of them run together
		case <-full:
		case <-ctx.Done():
			return ctx.Err()
		}
		return rec.handle(ctx, m)
	}, append(fastOptions(c, groupID(t), topics...), flexkafka.WithMaxInFlight(limit))...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, w)
	waitFor(t, rec.at(n), "all handled (hangs if fewer than the limit run at once)")
	if got := peak.Load(); got > limit {
		t.Fatalf("%d handlers ran at once, limit %d", got, limit)
	}
}

// TestRevokeCommitsHandled: when a rebalance revokes partitions while
// their handlers run, the handlers' context is cancelled; what the
// partitions handled before is committed through the ending generation,
// so the new owner does not get it again. Periodic commits are off: only
// the commit at revocation can do this.
func TestRevokeCommitsHandled(t *testing.T) {
	const partitions, perPartition = 4, 5
	c, topics := newCluster(t, partitions, "revoke")
	produce(t, c, topics[0], 0, partitions*perPartition)
	group := groupID(t)
	opts := append(fastOptions(c, group, topics...), flexkafka.WithCommitInterval(time.Hour))
	rec := newRecorder()
	var mu sync.Mutex
	handled := map[int]int{}  // partition -> messages handled by a
	blocked := map[int]bool{} // partition -> a held its message at the rebalance
	inFlight := make(chan struct{}, partitions)
	a, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		mu.Lock()
		if handled[m.Partition] == 1 && !blocked[m.Partition] {
			// every partition's second message is in flight at the rebalance
			blocked[m.Partition] = true
			mu.Unlock()
			inFlight <- struct{}{}
			<-ctx.Done() // honours its context
			return ctx.Err()
		}
		handled[m.Partition]++
		mu.Unlock()
		return rec.handle(ctx, m)
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, a)
	for range partitions {
		waitFor(t, inFlight, "a handler in flight on every partition")
	}
	b, err := flexkafka.NewConsumer(rec.handle, opts...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, b)
	eventually(t, "every message handled", func() bool {
		missing, _ := rec.check(0, partitions*perPartition)
		return len(missing) == 0
	})
	eventually(t, "b assigned partitions", func() bool { return len(b.Stats().Partitions) > 0 })
	if _, dups := rec.check(0, partitions*perPartition); dups != 0 {
		t.Fatalf("%d duplicates: messages handled before the revocation were not committed", dups)
	}
}

// The workers plug into flex's readiness and naming.
var (
	_ flex.Worker  = (*flexkafka.Consumer)(nil)
	_ flex.Readier = (*flexkafka.Consumer)(nil)
	_ flex.Checker = (*flexkafka.Consumer)(nil)
	_ flex.Worker  = (*flexkafka.Producer)(nil)
	_ flex.Checker = (*flexkafka.Producer)(nil)
)
