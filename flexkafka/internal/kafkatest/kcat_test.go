package kafkatest_test

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

// kcat runs the kcat binary (Debian package kcat) with args and stdin,
// skipping the test when it is not installed.
func kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not on PATH (apt-get install kcat); CI installs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestKcatInterop: the consumer handles what kcat produced, with its keys,
// and kcat reads what the producer wrote, with its keys and headers.
func TestKcatInterop(t *testing.T) {
	c, topics := newCluster(t, 3, "from-kcat", "to-kcat")
	broker := strings.Join(c.brokers, ",")
	kcatPartition := map[string]int{} // key -> partition chosen by kcat (librdkafka)

	t.Run("KcatToConsumer", func(t *testing.T) {
		var in strings.Builder
		for i := range 20 {
			fmt.Fprintf(&in, "key%d:value%d\n", i, i)
		}
		kcat(t, in.String(), "-b", broker, "-t", topics[0], "-P", "-K:")
		rec := newRecorder()
		keys := make(chan kafka.Message, 20)
		w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
			keys <- m
			return rec.handle(ctx, m)
		}, fastOptions(c, groupID(t), topics[0])...)
		if err != nil {
			t.Fatal(err)
		}
		running(t, w)
		waitFor(t, rec.at(20), "kcat's messages handled")
		var got []string
		for range 20 {
			m := <-keys
			got = append(got, string(m.Key)+":"+string(m.Value))
			kcatPartition[string(m.Key)] = m.Partition
		}
		slices.Sort(got)
		for i := range 20 {
			want := fmt.Sprintf("key%d:value%d", i, i)
			if !slices.Contains(got, want) {
				t.Fatalf("handled %v, missing %q", got, want)
			}
		}
	})

	t.Run("ProducerToKcat", func(t *testing.T) {
		p, err := flexkafka.NewProducer(flexkafka.WithBrokers(c.brokers...), flexkafka.WithTopics(topics[1]),
			flexkafka.WithLogger(testLogger()))
		if err != nil {
			t.Fatal(err)
		}
		var msgs []kafka.Message
		for i := range 10 {
			msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprintf("key%d", i)), Value: []byte(fmt.Sprintf("v%d", i)),
				Headers: []kafka.Header{{Key: "origin", Value: []byte("flexkafka")}}})
		}
		if err := p.Produce(context.Background(), msgs...); err != nil {
			t.Fatal(err)
		}
		if err := haltNow(t, p); err != nil {
			t.Fatal(err)
		}
		out := kcat(t, "", "-b", broker, "-t", topics[1], "-C", "-e", "-q", "-f", "%k=%s %h %p\n")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 10 {
			t.Fatalf("kcat read %d messages, want 10:\n%s", len(lines), out)
		}
		if len(kcatPartition) == 0 {
			lines = trimPartitions(lines)
		}
		for i := range 10 {
			// Same key, same partition as kcat chose: the default balancer
			// matches librdkafka's.
			key := fmt.Sprintf("key%d", i)
			want := fmt.Sprintf("%s=v%d origin=flexkafka %d", key, i, kcatPartition[key])
			if len(kcatPartition) == 0 { // KcatToConsumer did not run
				want = want[:strings.LastIndexByte(want, ' ')]
			}
			if !slices.Contains(lines, want) {
				t.Errorf("kcat output lacks %q:\n%s", want, out)
			}
		}
	})
}

func trimPartitions(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l[:max(strings.LastIndexByte(l, ' '), 0)]
	}
	return out
}
