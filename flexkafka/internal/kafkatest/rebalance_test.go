package kafkatest_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rebalanceInProgress is Kafka's REBALANCE_IN_PROGRESS error code.
const rebalanceInProgress = 27

// TestRebalanceKeepsReady: a member whose group is rebalancing again while
// it syncs (REBALANCE_IN_PROGRESS, common in rolling deploys) is still a
// member: Check keeps passing while it rejoins and no error is counted.
func TestRebalanceKeepsReady(t *testing.T) {
	c, topics := newCluster(t, 2, "rip")
	if c.fake == nil {
		t.Skip("makes the broker answer REBALANCE_IN_PROGRESS: kfake only")
	}
	outcome := newLogSignal("flexkafka: cannot join group", "flexkafka: rebalance in progress")
	w, err := flexkafka.NewConsumer(func(context.Context, kafka.Message) error { return nil },
		append(fastOptions(c, groupID(t), topics...), flexkafka.WithLogger(slog.New(outcome)))...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	waitFor(t, w.Ready(), "Ready")
	select { // a failed first join is not what this test is about
	case <-outcome.ch:
	default:
	}

	errorsBefore := w.Stats().Errors
	// A heartbeat says the group rebalances; the rejoin succeeds but its
	// sync is told the group is rebalancing again; the next rejoin is held
	// until the test has checked readiness.
	release := make(chan struct{})
	releaseJoin := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseJoin) // before the cleanup of running halts w
	var joins atomic.Int32
	c.fake.ControlKey(int16(kmsg.JoinGroup), func(kmsg.Request) (kmsg.Response, error, bool) {
		if joins.Add(1) == 2 {
			c.fake.SleepControl(func() { <-release })
		}
		c.fake.KeepControl()
		return nil, nil, false
	})
	c.fake.ControlKey(int16(kmsg.SyncGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = rebalanceInProgress
		return resp, nil, true
	})
	c.fake.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = rebalanceInProgress
		return resp, nil, true
	})
	t.Logf("consumer: %s", waitFor(t, outcome.ch, "the failed sync"))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	checkErr := w.Check(ctx)
	errorsAfter := w.Stats().Errors
	releaseJoin()
	if checkErr != nil {
		t.Errorf("Check during a rebalance = %v, want nil", checkErr)
	}
	if errorsAfter != errorsBefore {
		t.Errorf("Stats.Errors went from %d to %d: a rebalance is not an error", errorsBefore, errorsAfter)
	}
	if err := haltNow(t, w); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	waitFor(t, done, "Run")
}

// TestRevokedHandlerCancelledAndNeverCommits: a slow handler at a
// rebalance has its context cancelled at once, with ErrRevoked; one that
// ignores it and returns nil after its partition moved to another member
// never commits: the new owner's position is the only one that counts.
func TestRevokedHandlerCancelledAndNeverCommits(t *testing.T) {
	const partitions = 4
	c, topics := newCluster(t, partitions, "zombie")
	produce(t, c, topics[0], 0, partitions) // one message per partition, offset 0
	group := groupID(t)
	logs := newLogCounter()
	started := make(chan int, partitions)
	revoked := make(chan error, partitions)
	releaseA := make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(releaseA) })
	t.Cleanup(releaseOnce) // before the cleanups that halt the consumers
	var firstOf sync.Map
	a, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		if _, seen := firstOf.LoadOrStore(m.Partition, true); seen {
			return nil // a's next generation: the partitions it kept
		}
		started <- m.Partition
		go func() {
			<-ctx.Done()
			revoked <- context.Cause(ctx)
		}()
		<-releaseA // a zombie: it ignores its context
		return nil
	}, append(fastOptions(c, group, topics...), flexkafka.WithHandlerTimeout(time.Minute), flexkafka.WithLogger(slog.New(logs)))...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, a)
	for range partitions {
		waitFor(t, started, "a's handler on every partition")
	}

	bStarted := make(chan int, partitions)
	b, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		bStarted <- m.Partition
		<-ctx.Done() // holds the message: b commits nothing on its partitions
		return ctx.Err()
	}, fastOptions(c, group, topics...)...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, b)
	for range partitions {
		if cause := waitFor(t, revoked, "a's handlers cancelled by the rebalance"); !errors.Is(cause, flexkafka.ErrRevoked) {
			t.Fatalf("a handler's context cancelled with %v, want ErrRevoked", cause)
		}
	}
	moved := waitFor(t, bStarted, "b handling a partition taken from a")

	releaseOnce() // a's stale handlers now return nil
	eventually(t, "a's late results dropped", func() bool {
		return logs.count("flexkafka: handler returned after its partition was revoked; result dropped") == partitions
	})
	if got := committed(t, c, group, topics[0], partitions)[moved]; got > 0 {
		t.Fatalf("partition %d, now b's, has offset %d committed: a stale handler's result landed", moved, got)
	}
}

// unknownMemberID is Kafka's UNKNOWN_MEMBER_ID error code: the coordinator
// has evicted the member.
const unknownMemberID = 25

// TestLostMembershipCancelsHandlers: when the consumer learns it is losing
// its membership (here a heartbeat answered UNKNOWN_MEMBER_ID, as after an
// eviction), the running handler's context is cancelled at once with
// ErrRevoked; the message, uncommitted, is handled after the rejoin.
func TestLostMembershipCancelsHandlers(t *testing.T) {
	c, topics := newCluster(t, 1, "evicted")
	if c.fake == nil {
		t.Skip("makes the broker answer heartbeats with an error: kfake only")
	}
	produce(t, c, topics[0], 0, 1)
	started := make(chan struct{}, 1)
	cause := make(chan error, 1)
	var calls atomic.Int32
	rec := newRecorder()
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		if calls.Add(1) == 1 {
			started <- struct{}{}
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return ctx.Err()
		}
		return rec.handle(ctx, m)
	}, append(fastOptions(c, groupID(t), topics...), flexkafka.WithHandlerTimeout(time.Minute))...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, w)
	waitFor(t, started, "the handler")
	c.fake.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = unknownMemberID
		return resp, nil, true
	})
	if got := waitFor(t, cause, "the handler's context cancelled"); !errors.Is(got, flexkafka.ErrRevoked) {
		t.Fatalf("cause %v, want ErrRevoked", got)
	}
	waitFor(t, rec.at(1), "the message handled after the rejoin")
}
