package flexkafka_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

func nop(context.Context, kafka.Message) error { return nil }

func TestConsumerConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		opts []flexkafka.ConsumerOption
		want string
	}{
		{"no brokers", nil, nil,
			`flexkafka: invalid FLEX_KAFKA_BROKERS "": at least one broker is required`},
		{"env broker without port", map[string]string{"FLEX_KAFKA_BROKERS": "host"}, nil,
			`flexkafka: invalid FLEX_KAFKA_BROKERS "host": missing port`},
		{"one bad broker of two", map[string]string{"FLEX_KAFKA_BROKERS": "a:9092, b:x"}, nil,
			`flexkafka: invalid FLEX_KAFKA_BROKERS "a:9092,b:x": broker "b:x": port must be a number from 1 to 65535`},
		{"empty element", map[string]string{"FLEX_KAFKA_BROKERS": "a:9092,"}, nil,
			`broker "": empty broker address`},
		{"missing host", nil, []flexkafka.ConsumerOption{flexkafka.WithBrokers(":9092")},
			`flexkafka: invalid WithBrokers ":9092": missing host`},
		{"not host:port", nil, []flexkafka.ConsumerOption{flexkafka.WithBrokers("a:b:c")},
			`want host:port`},
		{"bad broker in WithConfig", nil, []flexkafka.ConsumerOption{flexkafka.WithConfig(flexkafka.Config{Brokers: []string{"k"}})},
			`flexkafka: invalid WithConfig Brokers "k": missing port`},
		{"WithBrokers after WithConfig", nil, []flexkafka.ConsumerOption{
			flexkafka.WithConfig(flexkafka.Config{Brokers: []string{"k:1"}}), flexkafka.WithBrokers("k")},
			`flexkafka: invalid WithBrokers "k": missing port`},
		{"no group in WithConfig", nil, []flexkafka.ConsumerOption{flexkafka.WithConfig(flexkafka.Config{Brokers: []string{"k:1"}, Topics: []string{"t"}})},
			`flexkafka: invalid FLEX_KAFKA_GROUP_ID "": a consumer group is required`},
		{"bad topic in WithConfig", nil, []flexkafka.ConsumerOption{flexkafka.WithConfig(flexkafka.Config{Brokers: []string{"k:1"}, GroupID: "g", Topics: []string{"a b"}})},
			`flexkafka: invalid WithConfig Topics "a b"`},
		{"no group", map[string]string{"FLEX_KAFKA_BROKERS": "k:9092"}, nil,
			`flexkafka: invalid FLEX_KAFKA_GROUP_ID "": a consumer group is required`},
		{"no topics", map[string]string{"FLEX_KAFKA_BROKERS": "k:9092", "FLEX_KAFKA_GROUP_ID": "g"}, nil,
			`flexkafka: invalid FLEX_KAFKA_TOPICS "": at least one topic is required`},
		{"bad topic", map[string]string{"FLEX_KAFKA_BROKERS": "k:9092", "FLEX_KAFKA_GROUP_ID": "g", "FLEX_KAFKA_TOPICS": "ok,not ok"}, nil,
			`flexkafka: invalid FLEX_KAFKA_TOPICS "ok,not ok": topic "not ok": may contain only`},
		{"bad option", map[string]string{"FLEX_KAFKA_BROKERS": "k:9092", "FLEX_KAFKA_GROUP_ID": "g", "FLEX_KAFKA_TOPICS": "t"},
			[]flexkafka.ConsumerOption{flexkafka.WithMaxInFlight(0)}, `flexkafka: invalid WithMaxInFlight(0): must be at least 1`},
		{"dlq is consumed", map[string]string{"FLEX_KAFKA_BROKERS": "k:9092", "FLEX_KAFKA_GROUP_ID": "g", "FLEX_KAFKA_TOPICS": "t"},
			[]flexkafka.ConsumerOption{flexkafka.WithDeadLetterTopic("t")}, `also a consumed topic`},
		{"backoff", map[string]string{"FLEX_KAFKA_BROKERS": "k:9092", "FLEX_KAFKA_GROUP_ID": "g", "FLEX_KAFKA_TOPICS": "t"},
			[]flexkafka.ConsumerOption{flexkafka.WithBackoff(time.Second, time.Millisecond)}, `max is below min`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"FLEX_KAFKA_BROKERS", "FLEX_KAFKA_GROUP_ID", "FLEX_KAFKA_TOPICS"} {
				t.Setenv(k, tt.env[k])
			}
			_, err := flexkafka.NewConsumer(nop, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewConsumer error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestOptionErrors(t *testing.T) {
	base := []flexkafka.ConsumerOption{flexkafka.WithBrokers("k:9092"), flexkafka.WithGroupID("g"), flexkafka.WithTopics("t")}
	bad := map[string]flexkafka.ConsumerOption{
		"WithQueueSize(0)":                 flexkafka.WithQueueSize(0),
		"WithCommitInterval(-1s)":          flexkafka.WithCommitInterval(-time.Second),
		"WithMaxRetryTime(-1s)":            flexkafka.WithMaxRetryTime(-time.Second),
		"WithHandlerTimeout(0s)":           flexkafka.WithHandlerTimeout(0),
		"WithMiddleware: middleware 0":     flexkafka.WithMiddleware(nil),
		"WithBackoff(0s, 1s)":              flexkafka.WithBackoff(0, time.Second),
		`WithDeadLetterTopic("bad topic")`: flexkafka.WithDeadLetterTopic("bad topic"),
		"WithHaltMargin(-1s)":              flexkafka.WithHaltMargin(-time.Second),
		"WithStartOffset(5)":               flexkafka.WithStartOffset(5),
		"WithGroupTimings(-1s, 0s, 0s)":    flexkafka.WithGroupTimings(-time.Second, 0, 0),
		"WithGroupTimings(10s, 5s, 0s)":    flexkafka.WithGroupTimings(10*time.Second, 5*time.Second, 0),
		"WithGroupTimings(40s, 0s, 0s)":    flexkafka.WithGroupTimings(40*time.Second, 0, 0), // the default session is 30s
		"WithJoinBackoff(-1s)":             flexkafka.WithJoinBackoff(-time.Second),
		"WithFetchMaxWait(0s)":             flexkafka.WithFetchMaxWait(0),
		"WithMaxBatch(0, 1s)":              flexkafka.WithMaxBatch(0, time.Second),
	}
	for name, opt := range bad {
		_, err := flexkafka.NewBatchConsumer(nopBatch, append(base, opt)...)
		if err == nil || !strings.Contains(err.Error(), "invalid "+name) {
			t.Errorf("%s: error = %v, want it named", name, err)
		}
	}
	badProducer := map[string]flexkafka.ProducerOption{
		"WithRequiredAcks(7)":  flexkafka.WithRequiredAcks(7),
		"WithBatch(0, 1s)":     flexkafka.WithBatch(0, time.Second),
		"WithWriteAttempts(0)": flexkafka.WithWriteAttempts(0),
	}
	for name, opt := range badProducer {
		_, err := flexkafka.NewProducer(flexkafka.WithBrokers("k:9092"), opt)
		if err == nil || !strings.Contains(err.Error(), "invalid "+name) {
			t.Errorf("%s: error = %v, want it named", name, err)
		}
	}
}

func nopBatch(context.Context, []kafka.Message) error { return nil }

// TestOptionTypes: the options that configure both workers are Options, so
// one list serves both constructors; an option of one worker only is of
// that worker's type alone, so that giving it to the other does not
// compile (a ConsumerOption such as WithGroupID is not a ProducerOption).
func TestOptionTypes(t *testing.T) {
	shared := []flexkafka.Option{
		flexkafka.WithConfig(flexkafka.Config{}),
		flexkafka.WithBrokers("k:9092"),
		flexkafka.WithTopics("t"),
		flexkafka.WithTLS(nil),
		flexkafka.WithSASL(nil),
		flexkafka.WithLogger(nil),
		flexkafka.WithPropagator(nil),
	}
	var consumerOpts []flexkafka.ConsumerOption
	var producerOpts []flexkafka.ProducerOption
	for _, o := range shared {
		consumerOpts = append(consumerOpts, o)
		producerOpts = append(producerOpts, o)
	}
	if _, err := flexkafka.NewConsumer(nop, append(consumerOpts, flexkafka.WithGroupID("g"))...); err != nil {
		t.Errorf("NewConsumer with the shared options: %v", err)
	}
	if _, err := flexkafka.NewProducer(producerOpts...); err != nil {
		t.Errorf("NewProducer with the shared options: %v", err)
	}
	for name, o := range map[string]flexkafka.ConsumerOption{"WithGroupID": flexkafka.WithGroupID("g"), "WithMaxBatch": flexkafka.WithMaxBatch(1, time.Second)} {
		if _, ok := o.(flexkafka.ProducerOption); ok {
			t.Errorf("%s is a ProducerOption; it configures a consumer only", name)
		}
	}
	for name, o := range map[string]flexkafka.ProducerOption{"WithBatch": flexkafka.WithBatch(1, time.Second), "WithAsync": flexkafka.WithAsync(nil)} {
		if _, ok := o.(flexkafka.ConsumerOption); ok {
			t.Errorf("%s is a ConsumerOption; it configures a producer only", name)
		}
	}
}

// TestMiddlewareReplacesDefaults: the options of the default chain are an
// error next to WithMiddleware, which replaces it.
func TestMiddlewareReplacesDefaults(t *testing.T) {
	base := []flexkafka.ConsumerOption{flexkafka.WithBrokers("k:9092"), flexkafka.WithGroupID("g"), flexkafka.WithTopics("t")}
	for name, opt := range map[string]flexkafka.ConsumerOption{
		"WithBackoff(1s, 2s)":        flexkafka.WithBackoff(time.Second, 2*time.Second),
		"WithMaxRetryTime(1m0s)":     flexkafka.WithMaxRetryTime(time.Minute),
		"WithPermanentFunc":          flexkafka.WithPermanentFunc(func(error) bool { return false }),
		`WithDeadLetterTopic("dlq")`: flexkafka.WithDeadLetterTopic("dlq"),
	} {
		_, err := flexkafka.NewConsumer(nop, append(base, opt, flexkafka.WithMiddleware(flexkafka.Retry(flexkafka.RetryPolicy{})))...)
		if err == nil || !strings.Contains(err.Error(), "invalid "+name+": it configures the default middleware") {
			t.Errorf("%s with WithMiddleware: error = %v, want it named", name, err)
		}
	}
	if _, err := flexkafka.NewConsumer(nop, append(base, flexkafka.WithMiddleware())...); err != nil {
		t.Errorf("WithMiddleware() (no policy at all): %v", err)
	}
}

// TestMaxBatchNeedsBatchConsumer: a consumer of single messages rejects
// batch settings rather than ignore them.
func TestMaxBatchNeedsBatchConsumer(t *testing.T) {
	_, err := flexkafka.NewConsumer(nop, flexkafka.WithBrokers("k:9092"), flexkafka.WithGroupID("g"), flexkafka.WithTopics("t"),
		flexkafka.WithMaxBatch(10, time.Second))
	if err == nil || !strings.Contains(err.Error(), "invalid WithMaxBatch(10, 1s)") {
		t.Fatalf("NewConsumer with WithMaxBatch = %v, want an error naming it", err)
	}
}

// TestPrecedence: an option wins over the environment, which fills what
// options leave empty.
func TestPrecedence(t *testing.T) {
	t.Setenv("FLEX_KAFKA_BROKERS", "env:9092")
	t.Setenv("FLEX_KAFKA_GROUP_ID", "env-group")
	t.Setenv("FLEX_KAFKA_TOPICS", " a , b ")
	c, err := flexkafka.NewConsumer(nop, flexkafka.WithGroupID("opt-group"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.String(); got != "kafka-consumer(opt-group)" {
		t.Errorf("String = %q: the option should win over FLEX_KAFKA_GROUP_ID", got)
	}
	c, err = flexkafka.NewConsumer(nop, flexkafka.WithConfig(flexkafka.Config{Topics: []string{"x"}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.String(); got != "kafka-consumer(env-group)" {
		t.Errorf("String = %q: the environment should fill GroupID", got)
	}
}

func TestProducerConfig(t *testing.T) {
	t.Setenv("FLEX_KAFKA_BROKERS", "")
	t.Setenv("FLEX_KAFKA_TOPICS", "ignored,by,producers")
	if _, err := flexkafka.NewProducer(); err == nil || !strings.Contains(err.Error(), "FLEX_KAFKA_BROKERS") {
		t.Fatalf("NewProducer without brokers = %v", err)
	}
	if _, err := flexkafka.NewProducer(flexkafka.WithBrokers("k:1"), flexkafka.WithTopics("a", "b")); err == nil ||
		!strings.Contains(err.Error(), "at most one default topic") {
		t.Fatalf("NewProducer with two topics = %v", err)
	}
	p, err := flexkafka.NewProducer(flexkafka.WithBrokers("k:1"))
	if err != nil {
		t.Fatalf("NewProducer: %v (FLEX_KAFKA_TOPICS must not apply to producers)", err)
	}
	if p.String() != "kafka-producer()" {
		t.Errorf("String = %q", p.String())
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (flexkafka.Config{Brokers: []string{"k:9092"}, Topics: []string{"a.b_c-d"}}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	for _, tc := range []struct {
		cfg  flexkafka.Config
		want string
	}{
		{flexkafka.Config{}, `invalid Config.Brokers "": at least one broker is required`},
		{flexkafka.Config{Brokers: []string{"k:0"}}, `port must be a number`},
		{flexkafka.Config{Brokers: []string{"k:1"}, Topics: []string{".."}}, `not a legal name`},
		{flexkafka.Config{Brokers: []string{"k:1"}, Topics: []string{strings.Repeat("x", 250)}}, `longer than 249`},
		{flexkafka.Config{Brokers: []string{"k:1"}, Topics: []string{""}}, `empty topic name`},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestNilHandler(t *testing.T) {
	if _, err := flexkafka.NewConsumer(nil); err == nil {
		t.Fatal("NewConsumer(nil) succeeded")
	}
}
