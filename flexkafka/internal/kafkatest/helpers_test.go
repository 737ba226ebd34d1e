package kafkatest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// envTestBrokers, when set, runs the suite against a real cluster instead
// of an in-process kfake broker.
const envTestBrokers = "FLEX_KAFKA_TEST_BROKERS"

// waitTimeout bounds every wait in the tests. It is not a performance
// target: it only turns a hang into a failure.
const waitTimeout = 20 * time.Second

// cluster is a broker the tests talk to over TCP, with topics made for one
// test.
type cluster struct {
	brokers []string
	fake    *kfake.Cluster   // nil on a real broker
	tr      *kafka.Transport // the helpers' own: kafka-go's default one caches metadata by address, and a later test's broker may reuse a port
}

// newCluster starts an in-process kfake broker with the given topics, each
// with partitions partitions, or creates uniquely named topics on the real
// cluster named by FLEX_KAFKA_TEST_BROKERS. It returns the topics' names.
func newCluster(t testing.TB, partitions int, names ...string) (*cluster, []string) {
	t.Helper()
	if env := os.Getenv(envTestBrokers); env != "" {
		c := &cluster{brokers: strings.Split(env, ","), tr: &kafka.Transport{}}
		t.Cleanup(c.tr.CloseIdleConnections)
		suffix := randomSuffix()
		topics := make([]string, len(names))
		configs := make([]kafka.TopicConfig, len(names))
		for i, n := range names {
			topics[i] = n + "-" + suffix
			configs[i] = kafka.TopicConfig{Topic: topics[i], NumPartitions: partitions, ReplicationFactor: 1}
		}
		client := &kafka.Client{Addr: kafka.TCP(c.brokers...), Transport: c.tr}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: configs})
		if err != nil {
			t.Fatalf("create topics: %v", err)
		}
		for topic, err := range resp.Errors {
			if err != nil {
				t.Fatalf("create topic %s: %v", topic, err)
			}
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
		})
		return c, topics
	}
	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), names...))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(fake.Close)
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &cluster{brokers: fake.ListenAddrs(), fake: fake, tr: tr}, names
}

// nop is a handler that accepts every message.
func nop(context.Context, kafka.Message) error { return nil }

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// groupID returns a group name unique to this run.
func groupID(t testing.TB) string {
	return strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) + "-" + randomSuffix()
}

// testLogger discards logs unless FLEX_KAFKA_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("FLEX_KAFKA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// fastOptions tunes group timings and intervals so that tests run in
// milliseconds rather than the seconds of the production defaults.
func fastOptions(c *cluster, group string, topics ...string) []flexkafka.ConsumerOption {
	return append(fastGroupOptions(c, group, topics...), flexkafka.WithBackoff(time.Millisecond, 5*time.Millisecond))
}

// fastGroupOptions is fastOptions without the options of the default
// middleware, for tests that give WithMiddleware.
func fastGroupOptions(c *cluster, group string, topics ...string) []flexkafka.ConsumerOption {
	return []flexkafka.ConsumerOption{
		flexkafka.WithBrokers(c.brokers...),
		flexkafka.WithGroupID(group),
		flexkafka.WithTopics(topics...),
		flexkafka.WithGroupTimings(100*time.Millisecond, 6*time.Second, 3*time.Second),
		flexkafka.WithJoinBackoff(100 * time.Millisecond),
		flexkafka.WithFetchMaxWait(100 * time.Millisecond),
		flexkafka.WithCommitInterval(20 * time.Millisecond),
		flexkafka.WithLogger(testLogger()),
	}
}

// produce writes n messages to topic with a raw kafka.Writer, spread over
// the partitions round-robin; message i has key "k<i>" and value "<i>".
func produce(t testing.TB, c *cluster, topic string, from, n int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(c.brokers...), Transport: c.tr, Topic: topic, Balancer: &kafka.RoundRobin{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 1000}
	defer w.Close()
	msgs := make([]kafka.Message, 0, n)
	for i := from; i < from+n; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte("k" + strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// readAll reads every message of topic, partition by partition.
func readAll(t testing.TB, c *cluster, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(c.brokers...), Transport: c.tr}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		t.Fatalf("metadata of %s: %v %+v", topic, err, meta)
	}
	var all []kafka.Message
	for _, p := range meta.Topics[0].Partitions {
		offs, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
			topic: {kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID)}}})
		if err != nil {
			t.Fatalf("list offsets: %v", err)
		}
		po := offs.Topics[topic][0]
		if po.LastOffset <= po.FirstOffset {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.brokers, Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		r.SetOffset(po.FirstOffset)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d: %v", topic, p.ID, err)
			}
			all = append(all, m)
			if m.Offset >= po.LastOffset-1 {
				break
			}
		}
		r.Close()
	}
	return all
}

// committed returns the group's committed offsets of topic by partition.
func committed(t testing.TB, c *cluster, group, topic string, partitions int) map[int]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(c.brokers...), Transport: c.tr}
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// recorder is a handler that records what it handled.
type recorder struct {
	mu      sync.Mutex
	counts  map[string]int // by value
	order   map[int][]int64
	total   int
	reached map[int]chan struct{}
}

func newRecorder() *recorder {
	return &recorder{counts: map[string]int{}, order: map[int][]int64{}, reached: map[int]chan struct{}{}}
}

func (r *recorder) handle(_ context.Context, m kafka.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[string(m.Value)]++
	r.order[m.Partition] = append(r.order[m.Partition], m.Offset)
	r.total++
	for n, ch := range r.reached {
		if r.total >= n {
			close(ch)
			delete(r.reached, n)
		}
	}
	return nil
}

// handled returns how many messages were handled in all.
func (r *recorder) handled() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// at returns a channel closed once n messages in all were handled.
func (r *recorder) at(n int) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan struct{})
	if r.total >= n {
		close(ch)
		return ch
	}
	r.reached[n] = ch
	return ch
}

// check reports values in [from, from+n) never handled, and the number of
// duplicate deliveries.
func (r *recorder) check(from, n int) (missing []int, duplicates int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := from; i < from+n; i++ {
		switch c := r.counts[strconv.Itoa(i)]; {
		case c == 0:
			missing = append(missing, i)
		case c > 1:
			duplicates += c - 1
		}
	}
	return missing, duplicates
}

// inOrder reports a partition whose offsets were handled out of order, with
// redeliveries allowed to restart from an earlier offset.
func (r *recorder) inOrder() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, offs := range r.order {
		seen := map[int64]bool{}
		for i := 1; i < len(offs); i++ {
			if offs[i] <= offs[i-1] && !seen[offs[i]] {
				return fmt.Errorf("partition %d: offset %d handled after %d: %v", p, offs[i], offs[i-1], offs)
			}
			seen[offs[i-1]] = true
		}
	}
	return nil
}

// running runs w in a goroutine and halts it at cleanup. It returns a
// channel that receives Run's result.
func running(t testing.TB, w interface {
	Run(context.Context) error
	Halt(context.Context) error
}) chan error {
	t.Helper()
	done := make(chan error, 1)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		done <- w.Run(context.Background())
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		w.Halt(ctx)
		select {
		case <-returned:
		case <-ctx.Done():
			t.Errorf("Run did not return after Halt")
		}
	})
	return done
}

func waitFor[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func haltNow(t testing.TB, w interface{ Halt(context.Context) error }) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return w.Halt(ctx)
}

// eventually polls cond until it holds, failing the test after
// waitTimeout. It waits for a state, never for a duration.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// logSignal is a slog.Handler that sends the message of each record
// beginning with one of its prefixes to ch, dropping it when ch is full. It
// lets a test wait for a step of the workers that only their logs show.
type logSignal struct {
	prefixes []string
	ch       chan string
}

func newLogSignal(prefixes ...string) *logSignal {
	return &logSignal{prefixes: prefixes, ch: make(chan string, 1)}
}

func (*logSignal) Enabled(context.Context, slog.Level) bool { return true }
func (h *logSignal) WithAttrs([]slog.Attr) slog.Handler     { return h }
func (h *logSignal) WithGroup(string) slog.Handler          { return h }
func (h *logSignal) Handle(_ context.Context, r slog.Record) error {
	for _, p := range h.prefixes {
		if strings.HasPrefix(r.Message, p) {
			select {
			case h.ch <- r.Message:
			default:
			}
			break
		}
	}
	return nil
}

// logCounter is a slog.Handler that counts the records whose message
// begins with each of its prefixes.
type logCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func newLogCounter() *logCounter { return &logCounter{counts: map[string]int{}} }

func (*logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler     { return h }
func (h *logCounter) WithGroup(string) slog.Handler          { return h }
func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.counts[r.Message]++
	h.mu.Unlock()
	return nil
}

// count returns how many records began with prefix.
func (h *logCounter) count(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for msg, c := range h.counts {
		if strings.HasPrefix(msg, prefix) {
			n += c
		}
	}
	return n
}

// produceKeyed writes n messages to topic, message i with key
// "key-<i mod keys>" and value "<i>", so that each key's messages share a
// partition and their values increase in offset order.
func produceKeyed(t testing.TB, c *cluster, topic string, n, keys int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(c.brokers...), Transport: c.tr, Topic: topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 1000}
	defer w.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte("key-" + strconv.Itoa(i%keys)), Value: []byte(strconv.Itoa(i))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// keyOrder records, per key, the values handled successfully, to check
// that each key's messages were handled in order.
type keyOrder struct {
	mu     sync.Mutex
	byKey  map[string][]int
	counts map[int]int
}

func newKeyOrder() *keyOrder { return &keyOrder{byKey: map[string][]int{}, counts: map[int]int{}} }

func (k *keyOrder) handled(m kafka.Message) {
	v, _ := strconv.Atoi(string(m.Value))
	k.mu.Lock()
	defer k.mu.Unlock()
	k.byKey[string(m.Key)] = append(k.byKey[string(m.Key)], v)
	k.counts[v]++
}

// total returns how many distinct values were handled.
func (k *keyOrder) total() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.counts)
}

// check reports a key whose values were handled out of order and values
// in [0, n) never handled.
func (k *keyOrder) check(n int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, vs := range k.byKey {
		for i := 1; i < len(vs); i++ {
			if vs[i] < vs[i-1] {
				return fmt.Errorf("key %s: %d handled after %d: %v", key, vs[i], vs[i-1], vs)
			}
		}
	}
	for v := range n {
		if k.counts[v] == 0 {
			return fmt.Errorf("value %d never handled", v)
		}
	}
	return nil
}
