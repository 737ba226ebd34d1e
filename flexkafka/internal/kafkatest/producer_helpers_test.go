package kafkatest_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stall makes the kfake broker hold every produce request after the first
// pass, as a broker that stops answering does, until release is called or
// the cluster is closed; a released request is then handled as usual. held
// is closed once a request is held.
type stall struct {
	held    chan struct{}
	release func()
}

func stallProduce(t testing.TB, c *cluster, pass int) *stall {
	t.Helper()
	if c.fake == nil {
		t.Skip("holds broker requests: kfake only")
	}
	s := &stall{held: make(chan struct{})}
	released := make(chan struct{})
	var once, heldOnce sync.Once
	s.release = func() { once.Do(func() { close(released) }) }
	t.Cleanup(s.release)
	var seen atomic.Int64
	c.fake.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		// Once released, a request never sleeps: kfake races (-race) when
		// a request queued behind a sleeping one sleeps in turn.
		if seen.Add(1) > int64(pass) && !isDone(released) {
			heldOnce.Do(func() { close(s.held) })
			c.fake.SleepControl(func() { <-released })
		}
		return nil, nil, false // then handled as usual
	})
	return s
}

// reports records what the WithAsync callback is given, by message value.
type reports struct {
	mu      sync.Mutex
	byValue map[string]int
	errs    []error
	total   int
}

func newReports() *reports { return &reports{byValue: map[string]int{}} }

func (r *reports) onError(msgs []kafka.Message, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		r.byValue[string(m.Value)]++
	}
	r.errs = append(r.errs, err)
	r.total += len(msgs)
}

// count returns how many messages were reported in all.
func (r *reports) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// check reports the messages reported more than once and those reported
// that were never accepted, and returns the set of values reported.
func (r *reports) check(t testing.TB, accepted map[string]bool) map[string]bool {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]bool{}
	for v, n := range r.byValue {
		if n > 1 {
			t.Errorf("message %s reported %d times", v, n)
		}
		if !accepted[v] {
			t.Errorf("message %s reported but never accepted", v)
		}
		out[v] = true
	}
	return out
}

// produceAll produces writers×each single messages concurrently, each with
// a unique value "<prefix>-<n>", and returns the values Produce accepted
// (returned nil for). A Produce that fails stops its writer.
func produceAll(t testing.TB, p *flexkafka.Producer, writers, each int, prefix string) map[string]bool {
	t.Helper()
	var mu sync.Mutex
	accepted := map[string]bool{}
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				v := prefix + "-" + strconv.Itoa(g*each+i)
				if err := p.Produce(context.Background(), kafka.Message{Key: []byte(v), Value: []byte(v)}); err != nil {
					t.Errorf("Produce %s: %v", v, err)
					return
				}
				mu.Lock()
				accepted[v] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return accepted
}

// checkOutcomes checks that every accepted message has exactly one
// outcome: Stats counts acknowledged + reported = accepted, with nothing
// left buffered, and the callback saw each reported message once. It
// returns the values reported.
func checkOutcomes(t testing.TB, p *flexkafka.Producer, r *reports, accepted map[string]bool) map[string]bool {
	t.Helper()
	reported := r.check(t, accepted)
	st := p.Stats()
	if got, want := st.Messages+uint64(len(reported)), uint64(len(accepted)); got != want {
		t.Errorf("acknowledged %d + reported %d = %d, want accepted = %d (%+v)", st.Messages, len(reported), got, want, st)
	}
	if st.Errors != uint64(len(reported)) {
		t.Errorf("Stats.Errors = %d, want the %d messages reported", st.Errors, len(reported))
	}
	if st.Accepted != uint64(len(accepted)) || st.Buffered != 0 {
		t.Errorf("Stats = %+v, want %d accepted and none buffered", st, len(accepted))
	}
	return reported
}

// isNotAcknowledged reports whether err is a Halt error counting n
// messages not acknowledged.
func isNotAcknowledged(err error, n int) bool {
	noun := " messages not acknowledged"
	if n == 1 {
		noun = " message not acknowledged"
	}
	return errors.Is(err, flexkafka.ErrNotAcknowledged) && strings.Contains(err.Error(), ": "+strconv.Itoa(n)+noun)
}

// newTestProducer returns a Producer of c with topic as its default topic.
func newTestProducer(t testing.TB, c *cluster, topic string, opts ...flexkafka.ProducerOption) *flexkafka.Producer {
	t.Helper()
	base := []flexkafka.ProducerOption{flexkafka.WithBrokers(c.brokers...), flexkafka.WithTopics(topic), flexkafka.WithLogger(testLogger())}
	p, err := flexkafka.NewProducer(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
