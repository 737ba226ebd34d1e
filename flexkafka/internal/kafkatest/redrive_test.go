package kafkatest_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

// TestRedrive: 100 messages are dead-lettered while a bug makes them fail
// permanently; once it is fixed, Redrive moves them back to their topic
// and partition and every one is handled once. A second Redrive with the
// same group resumes after the first and moves nothing; a filter that
// matches nothing skips everything.
func TestRedrive(t *testing.T) {
	const n = 100
	c, topics := newCluster(t, 3, "redrive", "redrive-dlq")
	produceKeyed(t, c, topics[0], n, 10)
	var fixed atomic.Bool
	byValue := map[string]int{} // value -> origin partition, written before fixed
	order := newKeyOrder()
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		if !fixed.Load() {
			return flexkafka.Permanent(errors.New("bug 42: cannot parse"))
		}
		if !strings.HasPrefix(header(m, flexkafka.HeaderRedriven), topics[1]+"/") {
			t.Errorf("message %s without the %s header", m.Value, flexkafka.HeaderRedriven)
		}
		if want := byValue[string(m.Value)]; m.Partition != want {
			t.Errorf("message %s re-driven to partition %d, want its origin %d", m.Value, m.Partition, want)
		}
		order.handled(m)
		return nil
	}, append(fastOptions(c, groupID(t), topics[0]), flexkafka.WithDeadLetterTopic(topics[1]))...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, w)
	eventually(t, "100 dead-lettered", func() bool { return w.Stats().DeadLettered == n })
	dead := readAll(t, c, topics[1])
	for _, m := range dead {
		p, _ := strconv.Atoi(header(m, flexkafka.HeaderDLQPartition))
		byValue[string(m.Value)] = p
	}
	fixed.Store(true)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	opts := flexkafka.RedriveOptions{Config: flexkafka.Config{Brokers: c.brokers, GroupID: groupID(t)}, Topic: topics[1],
		Logger: testLogger()}
	none := opts
	none.Config.GroupID, none.ErrorContains = groupID(t), "bug 7"
	if res, err := flexkafka.Redrive(ctx, none); err != nil || res != (flexkafka.RedriveResult{Read: n, Skipped: n}) {
		t.Fatalf("Redrive with a filter matching nothing = %+v, %v; want all %d skipped", res, err, n)
	}
	elsewhere := opts
	elsewhere.Config.GroupID, elsewhere.OriginTopics = groupID(t), []string{"payments"}
	if res, err := flexkafka.Redrive(ctx, elsewhere); err != nil || res.Redriven != 0 || res.Skipped != n {
		t.Fatalf("Redrive of another origin topic = %+v, %v; want all %d skipped", res, err, n)
	}
	old := opts
	old.Config.GroupID, old.DeadLetteredBefore = groupID(t), time.Now().Add(-time.Hour)
	if res, err := flexkafka.Redrive(ctx, old); err != nil || res.Redriven != 0 {
		t.Fatalf("Redrive of dead letters older than an hour = %+v, %v; want none", res, err)
	}
	opts.ErrorContains, opts.OriginTopics = "bug 42", []string{topics[0]}
	res, err := flexkafka.Redrive(ctx, opts)
	if err != nil || res != (flexkafka.RedriveResult{Read: n, Redriven: n}) {
		t.Fatalf("Redrive = %+v, %v; want all %d re-driven", res, err, n)
	}
	eventually(t, "every re-driven message handled", func() bool { return order.total() == n })
	if res, err := flexkafka.Redrive(ctx, opts); err != nil || res != (flexkafka.RedriveResult{}) {
		t.Fatalf("second Redrive with the same group = %+v, %v; want nothing left", res, err)
	}
	if err := haltNow(t, w); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	if err := order.check(n); err != nil {
		t.Fatal(err)
	}
	order.mu.Lock()
	defer order.mu.Unlock()
	for v, count := range order.counts {
		if count != 1 {
			t.Errorf("message %d handled %d times, want once", v, count)
		}
	}
	if st := w.Stats(); st.Messages != n || st.DeadLettered != n {
		t.Errorf("Stats = %+v, want %d handled after %d dead-lettered", st, n, n)
	}
}

// TestRedriveErrors: bad options are named.
func TestRedriveErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		opts flexkafka.RedriveOptions
		want string
	}{
		{flexkafka.RedriveOptions{Config: flexkafka.Config{Brokers: []string{"k"}}}, `invalid RedriveOptions.Config.Brokers "k": missing port`},
		{flexkafka.RedriveOptions{Config: flexkafka.Config{Brokers: []string{"k:1"}}, Topic: "dlq"}, `invalid RedriveOptions.Config.GroupID ""`},
		{flexkafka.RedriveOptions{Config: flexkafka.Config{Brokers: []string{"k:1"}, GroupID: "g"}, Topic: "a b"}, `invalid RedriveOptions.Topic "a b"`},
	} {
		if _, err := flexkafka.Redrive(ctx, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Redrive(%+v) = %v, want %q", tc.opts, err, tc.want)
		}
	}
}
