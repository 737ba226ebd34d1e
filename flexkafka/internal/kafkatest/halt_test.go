package kafkatest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCommitsDuringHalt: while Halt waits for a stuck handler, what its
// partition handled before it is committed. Periodic commits are off: only
// the commit Halt makes at once can do this.
func TestCommitsDuringHalt(t *testing.T) {
	c, topics := newCluster(t, 1, "haltcommit")
	produce(t, c, topics[0], 0, 3)
	group := groupID(t)
	stuck, release := make(chan struct{}), make(chan struct{})
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		if m.Offset == 2 {
			close(stuck)
			<-release
		}
		return nil
	}, append(fastOptions(c, group, topics...), flexkafka.WithCommitInterval(time.Hour), flexkafka.WithHandlerTimeout(time.Minute))...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	waitFor(t, stuck, "the handler of offset 2")
	halted := make(chan error, 1)
	go func() { halted <- haltNow(t, w) }()
	eventually(t, "offsets 0 and 1 committed while offset 2's handler runs", func() bool {
		return committed(t, c, group, topics[0], 1)[0] == 2
	})
	close(release)
	if err := waitFor(t, halted, "Halt"); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	if err := waitFor(t, done, "Run"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := committed(t, c, group, topics[0], 1)[0]; got != 3 {
		t.Fatalf("committed %d after Halt, want 3", got)
	}
}

// TestRunReportsAbandonedHandlers: when Halt gives up on a handler that
// ignores its context, Run returns an error saying so, not nil.
func TestRunReportsAbandonedHandlers(t *testing.T) {
	c, topics := newCluster(t, 1, "abandon")
	produce(t, c, topics[0], 0, 1)
	started, release := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(release) })
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		close(started)
		<-release
		return nil
	}, append(fastOptions(c, groupID(t), topics...), flexkafka.WithHaltMargin(10*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	waitFor(t, started, "handler")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := w.Halt(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Halt = %v, want it to give up at its deadline", err)
	}
	err = waitFor(t, done, "Run")
	if !errors.Is(err, flexkafka.ErrHandlersCancelled) {
		t.Fatalf("Run = %v, want an error wrapping ErrHandlersCancelled", err)
	}
	t.Logf("Run: %v", err)
}

// TestStuckHandlerFailsCheck: a handler that runs past the handler timeout
// ignoring its context fails Check, with ErrHandlerStuck, until it
// returns; its context was cancelled with ErrHandlerTimeout.
func TestStuckHandlerFailsCheck(t *testing.T) {
	c, topics := newCluster(t, 1, "stuck")
	produce(t, c, topics[0], 0, 2)
	release := make(chan struct{})
	cause := make(chan error, 1)
	rec := newRecorder()
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		if m.Offset == 0 {
			<-release
			<-ctx.Done() // cancelled by the timeout, which Check's report does not wait for
			cause <- context.Cause(ctx)
		}
		return rec.handle(ctx, m)
	}, append(fastOptions(c, groupID(t), topics...), flexkafka.WithHandlerTimeout(50*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, w)
	waitFor(t, w.Ready(), "Ready")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var checkErr error
	eventually(t, "Check to fail with ErrHandlerStuck", func() bool {
		checkErr = w.Check(ctx)
		return errors.Is(checkErr, flexkafka.ErrHandlerStuck)
	})
	t.Logf("Check: %v", checkErr)
	close(release)
	if got := waitFor(t, cause, "the handler"); !errors.Is(got, flexkafka.ErrHandlerTimeout) {
		t.Errorf("handler context's cause = %v, want ErrHandlerTimeout", got)
	}
	waitFor(t, rec.at(2), "both messages")
	eventually(t, "Check passing again", func() bool { return w.Check(ctx) == nil })
}

// topicAuthorizationFailed is Kafka's TOPIC_AUTHORIZATION_FAILED error
// code, which kafka-go's reader returns from FetchMessage.
const topicAuthorizationFailed = 29

// TestFetchErrorKeepsGeneration: fetch errors on one partition are counted
// and retried in the same generation: the other partitions keep their
// membership, nothing is skipped, and the consumer does not rejoin.
func TestFetchErrorKeepsGeneration(t *testing.T) {
	c, topics := newCluster(t, 2, "fetcherr")
	if c.fake == nil {
		t.Skip("makes the broker answer fetches with an error: kfake only")
	}
	produce(t, c, topics[0], 0, 10)
	var mu sync.Mutex
	failures := 0
	c.fake.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.fake.KeepControl()
		fetch := req.(*kmsg.FetchRequest)
		if len(fetch.Topics) != 1 || len(fetch.Topics[0].Partitions) != 1 || fetch.Topics[0].Topic != topics[0] ||
			fetch.Topics[0].Partitions[0].Partition != 0 {
			return nil, nil, false
		}
		mu.Lock()
		defer mu.Unlock()
		if failures == 3 {
			return nil, nil, false
		}
		failures++
		resp := fetch.ResponseKind().(*kmsg.FetchResponse)
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = fetch.Topics[0].Topic, fetch.Topics[0].TopicID
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition, rp.ErrorCode, rp.HighWatermark, rp.LastStableOffset = 0, topicAuthorizationFailed, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		resp.Topics = append(resp.Topics, rt)
		return resp, nil, true
	})
	rec := newRecorder()
	w, err := flexkafka.NewConsumer(rec.handle, fastOptions(c, groupID(t), topics...)...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, w)
	waitFor(t, rec.at(10), "every message")
	mu.Lock()
	n := failures
	mu.Unlock()
	st := w.Stats()
	// kafka-go's reader returns some of the failures from FetchMessage and
	// retries the others itself; those it returns are counted.
	if n == 0 || st.Errors == 0 {
		t.Errorf("%d fetches failed, Stats.Errors = %d: want them counted", n, st.Errors)
	}
	if st.Rebalances != 1 {
		t.Errorf("Stats.Rebalances = %d, want 1: a fetch error must not end the generation", st.Rebalances)
	}
}
