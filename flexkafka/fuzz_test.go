package flexkafka

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Internal tests: dead-letter headers are read by the redriver's match,
// which needs no broker. None of them needs one.

// FuzzTraceHeaders gives W3C.Extract any traceparent and tracestate, as any
// producer may send. It takes a traceparent exactly when the W3C Trace
// Context recommendation's grammar (checked here by a regular expression)
// does, and what it takes, Inject sends on unchanged without touching the
// headers it is given.
func FuzzTraceHeaders(f *testing.F) {
	for _, seed := range [][2]string{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "congo=t61rcWkgMzE"},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", ""},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", "a=b,c=d"},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", ""},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", ""},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", ""},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", ""},
		{"", "orphan=state"}, {"garbage", "\x00\xff"},
	} {
		f.Add(seed[0], seed[1], []byte("other"))
	}
	grammar := regexp.MustCompile(`(?s)^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-.*)?$`)
	f.Fuzz(func(t *testing.T, traceparent, tracestate string, other []byte) {
		in := []kafka.Header{{Key: "other", Value: other}, {Key: HeaderTraceparent, Value: []byte(traceparent)},
			{Key: HeaderTracestate, Value: []byte(tracestate)}}
		tc, got := TraceFromContext(W3C{}.Extract(context.Background(), in))

		m := grammar.FindStringSubmatch(traceparent)
		want := m != nil && m[1] != "ff" && !(m[1] == "00" && m[4] != "") &&
			m[2] != strings.Repeat("0", 32) && m[3] != strings.Repeat("0", 16)
		if got != want {
			t.Fatalf("Extract took traceparent %q: %v, want %v", traceparent, got, want)
		}
		if !got {
			return
		}
		if tc.Traceparent != traceparent || tc.Tracestate != tracestate {
			t.Fatalf("Extract = %+v, want %q and %q", tc, traceparent, tracestate)
		}
		before := []kafka.Header{{Key: "other", Value: bytes.Clone(other)}, {Key: HeaderTraceparent, Value: []byte("old")}}
		out := W3C{}.Inject(ContextWithTrace(context.Background(), tc), before)
		if string(before[1].Value) != "old" || len(before) != 2 {
			t.Fatalf("Inject modified the headers it was given: %q", before)
		}
		if v, ok := lastHeader(out, HeaderTraceparent); !ok || v != traceparent {
			t.Errorf("Inject sent traceparent %q, want %q", v, traceparent)
		}
		if v, _ := lastHeader(out, HeaderTracestate); v != tracestate {
			t.Errorf("Inject sent tracestate %q, want %q", v, tracestate)
		}
	})
}

func lastHeader(hs []kafka.Header, key string) (string, bool) {
	n := 0
	v := ""
	for _, h := range hs {
		if h.Key == key {
			n++
			v = string(h.Value)
		}
	}
	return v, n == 1
}

// FuzzDeadLetterHeaders gives the redriver a dead letter with any
// flexkafka-dlq- headers, as anyone who can write to a dead-letter topic
// may. It re-drives it only to a valid topic and an existing partition
// number, and only when the filter says so: a dead letter that names a
// topic Kafka refuses would otherwise fail the whole re-drive, and all
// the dead letters after it with it, on every retry.
func FuzzDeadLetterHeaders(f *testing.F) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Format(time.RFC3339Nano)
	for _, seed := range [][4]string{
		{"orders", "0", at, "handler: boom"}, {"orders", "2147483647", at, ""}, {"orders", "2147483648", at, ""},
		{"orders", "-1", at, ""}, {"orders", "4294967296", "", ""}, {"", "0", at, ""}, {"a b", "0", at, ""},
		{"..", "0", at, ""}, {strings.Repeat("t", 250), "0", at, ""}, {"orders", "0x1", at, ""},
		{"orders", "+1", "2026-13-01T00:00:00Z", ""}, {"orders", " 1", "yesterday", "x"}, {"caf\u00e9", "0", at, ""},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	after := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &redriver{log: slog.New(slog.DiscardHandler), opts: RedriveOptions{DeadLetteredAfter: after, ErrorContains: "boom"}}
	all := &redriver{log: slog.New(slog.DiscardHandler)}
	f.Fuzz(func(t *testing.T, topic, partition, dlqTime, errText string) {
		m := kafka.Message{Topic: "orders.dlq", Partition: 1, Offset: 7, Time: after.Add(-time.Hour), Headers: []kafka.Header{
			{Key: HeaderDLQTopic, Value: []byte(topic)}, {Key: HeaderDLQPartition, Value: []byte(partition)},
			{Key: HeaderDLQTime, Value: []byte(dlqTime)}, {Key: HeaderDLQError, Value: []byte(errText)},
		}}
		for _, rd := range []*redriver{r, all} {
			gotTopic, gotPartition, ok := rd.match(m)
			if !ok {
				continue
			}
			if want, err := strconv.Atoi(partition); gotTopic != topic || err != nil || gotPartition != want {
				t.Errorf("match = %q/%d, want the headers' %q/%s", gotTopic, gotPartition, topic, partition)
			}
			if err := validateTopic(gotTopic); err != nil {
				t.Errorf("match re-drives to topic %q: %v", gotTopic, err)
			}
			if gotPartition < 0 || gotPartition > math.MaxInt32 {
				t.Errorf("match re-drives to partition %d", gotPartition)
			}
			if rd == r && !strings.Contains(errText, "boom") {
				t.Errorf("match re-drives error %q, filtered on \"boom\"", errText)
			}
		}
		rec := redriven(m)
		if v, _ := lastHeader(rec.Headers, HeaderRedriven); v != "orders.dlq/1@7" {
			t.Errorf("re-driven with %s %q", HeaderRedriven, v)
		}
		for _, h := range rec.Headers {
			if strings.HasPrefix(h.Key, headerDLQPrefix) {
				t.Errorf("re-driven with dead-letter header %q", h.Key)
			}
		}
	})
}

// A dead letter whose headers name an origin Kafka cannot take is skipped,
// as one without headers is: found by FuzzDeadLetterHeaders. Re-driving it
// failed the re-drive at that dead letter on every retry (a topic Kafka
// refuses) or wrote it to another partition (4294967296 is partition 0 in
// the protocol's int32).
func TestRedriveSkipsAnInvalidOrigin(t *testing.T) {
	var logs bytes.Buffer
	r := &redriver{log: slog.New(slog.NewTextHandler(&logs, nil))}
	for _, origin := range [][2]string{{"a b", "0"}, {"..", "0"}, {strings.Repeat("t", 250), "0"}, {"orders", "2147483648"}, {"orders", "4294967296"}} {
		m := kafka.Message{Topic: "orders.dlq", Headers: []kafka.Header{
			{Key: HeaderDLQTopic, Value: []byte(origin[0])}, {Key: HeaderDLQPartition, Value: []byte(origin[1])}}}
		if topic, partition, ok := r.match(m); ok {
			t.Errorf("origin %q/%s re-driven to %q/%d", origin[0], origin[1], topic, partition)
		}
	}
	if got := strings.Count(logs.String(), "not a valid topic and partition"); got != 5 {
		t.Errorf("%d warnings of an invalid origin, want 5:\n%s", got, logs.String())
	}
	m := kafka.Message{Topic: "orders.dlq", Headers: []kafka.Header{
		{Key: HeaderDLQTopic, Value: []byte("orders")}, {Key: HeaderDLQPartition, Value: []byte("2147483647")}}}
	if topic, partition, ok := r.match(m); !ok || topic != "orders" || partition != math.MaxInt32 {
		t.Errorf("origin orders/2147483647: match = %q/%d, %v; want it re-driven", topic, partition, ok)
	}
}

// FuzzEnv feeds any text to the FLEX_KAFKA_* variables. A consumer's and a
// producer's configuration either refuse it with an error naming the
// variable, or hold only valid brokers and topics.
func FuzzEnv(f *testing.F) {
	for _, seed := range [][4]string{
		{"", "", "", ""}, {"kafka-0:9092,kafka-1:9092", "orders", "a,b", "1000"}, {"k", "g", "t", "0"},
		{":9092", "g", "t", "-1"}, {"a:b:c", " ", "a b", "x"}, {"k:1,,k:2", "g", "t,,u", " 5 "},
		{"[::1]:9092", "g", "..", "99999999999999999999"}, {"k:0", "g", strings.Repeat("t", 250), "1"},
		{"k:65536", "g", "t", ""}, {" k:1 , k:2 ", "\tg\n", " t ", "+3"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, brokers, group, topics, maxBuffered string) {
		env := map[string]string{EnvBrokers: brokers, EnvGroupID: group, EnvTopics: topics, EnvProducerMaxBuffered: maxBuffered}
		for k, v := range env {
			if strings.ContainsRune(v, 0) {
				return // the environment cannot hold NUL
			}
			t.Setenv(k, v)
		}
		named := func(err error) {
			t.Helper()
			// A list is quoted as read, its elements trimmed: "a ,b" as "a,b".
			for k := range env {
				if strings.HasPrefix(err.Error(), "flexkafka: invalid "+k+" ") {
					return
				}
			}
			t.Errorf("error %q names none of the variables", err)
		}
		valid := func(c Config) {
			t.Helper()
			if err := c.Validate(); err != nil || len(c.Brokers) == 0 {
				t.Errorf("configuration taken with %v: %v", c, err)
			}
		}
		if c, err := newConsumerConfig(nil, false); err != nil {
			named(err)
		} else {
			valid(c.conn)
			if c.conn.GroupID == "" || len(c.conn.Topics) == 0 {
				t.Errorf("consumer without group or topics: %+v", c.conn)
			}
		}
		if c, err := newProducerConfig(nil); err != nil {
			named(err)
		} else {
			valid(c.conn)
			if c.maxBuffered < 1 {
				t.Errorf("producer buffers at most %d messages", c.maxBuffered)
			}
		}
	})
}
