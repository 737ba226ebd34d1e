package kafkatest_test

import (
	"context"
	"testing"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestTracePropagation: the trace context of Produce's ctx reaches the
// handler's ctx through the message headers.
func TestTracePropagation(t *testing.T) {
	c, topics := newCluster(t, 1, "trace")
	p, err := flexkafka.NewProducer(flexkafka.WithBrokers(c.brokers...), flexkafka.WithTopics(topics[0]),
		flexkafka.WithPropagator(flexkafka.W3C{}), flexkafka.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := flexkafka.ContextWithTrace(context.Background(), flexkafka.TraceContext{Traceparent: traceparent, Tracestate: "vendor=1"})
	stale := []kafka.Header{{Key: "traceparent", Value: []byte("stale")}, {Key: "keep", Value: []byte("me")}}
	if err := p.Produce(ctx, kafka.Message{Value: []byte("traced"), Headers: stale}); err != nil {
		t.Fatal(err)
	}
	haltNow(t, p)

	got := make(chan flexkafka.TraceContext, 1)
	headers := make(chan []kafka.Header, 1)
	w, err := flexkafka.NewConsumer(func(ctx context.Context, m kafka.Message) error {
		tc, _ := flexkafka.TraceFromContext(ctx)
		got <- tc
		headers <- m.Headers
		return nil
	}, append(fastOptions(c, groupID(t), topics...), flexkafka.WithPropagator(flexkafka.W3C{}))...)
	if err != nil {
		t.Fatal(err)
	}
	running(t, w)
	tc := waitFor(t, got, "handler")
	if tc.Traceparent != traceparent || tc.Tracestate != "vendor=1" {
		t.Fatalf("handler trace context = %+v", tc)
	}
	hs := waitFor(t, headers, "headers")
	var n int
	for _, h := range hs {
		if h.Key == "traceparent" {
			n++
		}
	}
	if n != 1 || header(kafka.Message{Headers: hs}, "keep") != "me" {
		t.Errorf("headers = %v, want one traceparent and the other headers kept", hs)
	}
}

func TestW3C(t *testing.T) {
	var w flexkafka.W3C
	bg := context.Background()
	if got := w.Inject(bg, nil); len(got) != 0 {
		t.Errorf("Inject without a trace context added %v", got)
	}
	for _, tp := range []string{
		"",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",          // too short
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",       // zero trace id
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",       // zero span id
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",       // upper case
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       // forbidden version
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", // v00 has no extra fields
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       // separator
		"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01xextra", // bad separator after flags
	} {
		ctx := w.Extract(bg, []kafka.Header{{Key: "traceparent", Value: []byte(tp)}})
		if _, ok := flexkafka.TraceFromContext(ctx); ok {
			t.Errorf("Extract accepted %q", tp)
		}
		if got := w.Inject(flexkafka.ContextWithTrace(bg, flexkafka.TraceContext{Traceparent: tp}), nil); len(got) != 0 {
			t.Errorf("Inject wrote invalid %q", tp)
		}
	}
	future := "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"
	ctx := w.Extract(bg, []kafka.Header{{Key: "traceparent", Value: []byte(future)}})
	if tc, ok := flexkafka.TraceFromContext(ctx); !ok || tc.Traceparent != future {
		t.Errorf("Extract of a later version = %+v, %v", tc, ok)
	}
}
