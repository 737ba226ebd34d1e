package flexkafka_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

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
