package kafkatest_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consumerGoroutines returns the stacks of goroutines running the own
// work of w (fetching, handling, looking up offsets): none may be left once
// Run has returned, unless a Halt abandoned them. Goroutines of other
// consumers, such as those abandoned by earlier tests, do not count: a
// stack shows the receiver's address as the method's first argument.
func consumerGoroutines(w *flexkafka.Consumer) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, fn := range []string{"seedHighWaterMarks", "consumePartition"} {
			if strings.Contains(g, fmt.Sprintf("flexkafka.(*Consumer).%s(%p", fn, w)) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// TestRunLeavesNoGoroutine: when Run returns after a Halt that met its
// deadline, no goroutine of the consumer is left running, not even the
// lookup of the high watermarks made when partitions are assigned, here
// held up by the broker. (A lookup outliving Run could also open a
// connection pool after Run closed the transport's, leaking it for good.)
func TestRunLeavesNoGoroutine(t *testing.T) {
	c, topics := newCluster(t, 1, "leak")
	if c.fake == nil {
		t.Skip("holds up a broker request: kfake only")
	}
	inLookup := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { close(release) })
	c.fake.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if req.GetVersion() < 2 {
			return nil, nil, false // a partition reader's lookup (kafka-go's Conn speaks v1)
		}
		for _, tp := range req.(*kmsg.ListOffsetsRequest).Topics {
			for _, p := range tp.Partitions {
				if p.Timestamp == -1 { // the high watermark lookup
					once.Do(func() { close(inLookup) })
					c.fake.SleepControl(func() { <-release })
				}
			}
		}
		return nil, nil, false
	})
	w, err := flexkafka.NewConsumer(func(context.Context, kafka.Message) error { return nil },
		fastOptions(c, groupID(t), topics...)...)
	if err != nil {
		t.Fatal(err)
	}
	done := running(t, w)
	waitFor(t, inLookup, "the high watermark lookup")
	if err := haltNow(t, w); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	waitFor(t, done, "Run")
	if left := consumerGoroutines(w); len(left) > 0 {
		t.Fatalf("%d goroutines of the consumer still running after Run returned:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}
