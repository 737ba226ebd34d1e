package kafkatest_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

// fillBuffer produces n async messages while the broker holds the writes,
// so that all n stay buffered.
func fillBuffer(t *testing.T, p *flexkafka.Producer, s *stall, n int) {
	t.Helper()
	for i := range n {
		if err := p.Produce(context.Background(), kafka.Message{Value: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatalf("Produce %d: %v", i, err)
		}
	}
	waitFor(t, s.held, "a held produce request")
	if st := p.Stats(); st.Buffered != uint64(n) {
		t.Fatalf("Stats = %+v, want %d buffered", st, n)
	}
}

// TestProducerBlocksWhenFull: with the bound at N and the broker holding
// the writes, the (N+1)th Produce waits: until its context is done (and
// writes nothing), until room frees up (and then writes), or until Halt
// begins (ErrProducerClosed).
func TestProducerBlocksWhenFull(t *testing.T) {
	const bound = 5
	c, topics := newCluster(t, 1, "full")
	s := stallProduce(t, c, 0)
	p := newTestProducer(t, c, topics[0], flexkafka.WithAsync(nil), flexkafka.WithMaxBuffered(bound))
	fillBuffer(t, p, s, bound)

	// A deadline, not a timing assertion: Produce either waits until it
	// passes, or returns nil at once and fails the test.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Produce(ctx, kafka.Message{Value: []byte("over")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Produce beyond the bound = %v, want it to wait until its deadline", err)
	}
	if st := p.Stats(); st.Accepted != bound {
		t.Errorf("Stats = %+v: the refused message was accepted", st)
	}

	waiting := make(chan error, 1)
	go func() { waiting <- p.Produce(context.Background(), kafka.Message{Value: []byte("waits")}) }()
	s.release()
	if err := waitFor(t, waiting, "Produce after room freed up"); err != nil {
		t.Fatalf("Produce after room freed up = %v", err)
	}
	eventually(t, "every message acknowledged", func() bool { return p.Stats().Messages == bound+1 })

	// Halt ends a wait for room.
	s2 := stallProduce(t, c, 0)
	fillBuffer(t, p, s2, bound)
	go func() { waiting <- p.Produce(context.Background(), kafka.Message{Value: []byte("at halt")}) }()
	halted := make(chan error, 1)
	go func() { halted <- haltWithin(p, time.Hour) }()
	if err := waitFor(t, waiting, "Produce when Halt began"); !errors.Is(err, flexkafka.ErrProducerClosed) {
		t.Fatalf("Produce waiting for room when Halt began = %v, want ErrProducerClosed", err)
	}
	s2.release()
	if err := waitFor(t, halted, "Halt"); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	if st := p.Stats(); st != (flexkafka.ProducerStats{Messages: 2*bound + 1, Accepted: 2*bound + 1}) {
		t.Errorf("Stats = %+v, want %d acknowledged", st, 2*bound+1)
	}
}

// TestProducerNonBlockingFull: under WithNonBlocking, the (N+1)th Produce
// fails at once with ErrBufferFull and writes nothing, as does a single
// call of more than N messages; room freed up is usable again.
func TestProducerNonBlockingFull(t *testing.T) {
	const bound = 5
	c, topics := newCluster(t, 1, "nonblocking")
	s := stallProduce(t, c, 0)
	p := newTestProducer(t, c, topics[0], flexkafka.WithAsync(nil), flexkafka.WithMaxBuffered(bound), flexkafka.WithNonBlocking())
	fillBuffer(t, p, s, bound)

	result := make(chan error, 1)
	go func() { result <- p.Produce(context.Background(), kafka.Message{Value: []byte("over")}) }()
	if err := waitFor(t, result, "Produce beyond the bound"); !errors.Is(err, flexkafka.ErrBufferFull) {
		t.Fatalf("Produce beyond the bound = %v, want ErrBufferFull", err)
	}
	if st := p.Stats(); st.Accepted != bound {
		t.Errorf("Stats = %+v: the refused message was accepted", st)
	}

	s.release()
	eventually(t, "the buffer drained", func() bool { return p.Stats().Buffered == 0 })
	if err := p.Produce(context.Background(), kafka.Message{Value: []byte("room")}); err != nil {
		t.Fatalf("Produce with room = %v", err)
	}
	tooMany := make([]kafka.Message, bound+1)
	if err := p.Produce(context.Background(), tooMany...); !errors.Is(err, flexkafka.ErrBufferFull) {
		t.Fatalf("Produce of %d messages = %v, want ErrBufferFull", len(tooMany), err)
	}
	if err := haltNow(t, p); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	if got := readAll(t, c, topics[0]); len(got) != bound+1 {
		t.Errorf("topic holds %d messages, want %d", len(got), bound+1)
	}
}

// TestProducerMaxBufferedConfig: the bound comes from WithMaxBuffered,
// else FLEX_KAFKA_PRODUCER_MAX_BUFFERED, else DefaultMaxBuffered; bad
// values are named. A call of more messages than the bound fails at once,
// naming where the bound came from (no broker is needed for that).
func TestProducerMaxBufferedConfig(t *testing.T) {
	base := []flexkafka.ProducerOption{flexkafka.WithBrokers("localhost:9092"), flexkafka.WithTopics("t")}
	for _, tc := range []struct {
		name, env string
		opts      []flexkafka.ProducerOption
		wantErr   string // from NewProducer
		wantBound string // in the error of a call of too many messages
		bound     int
	}{
		{name: "zero", opts: []flexkafka.ProducerOption{flexkafka.WithMaxBuffered(0)}, wantErr: "flexkafka: invalid WithMaxBuffered(0): must be at least 1"},
		{name: "env not a number", env: "abc", wantErr: `flexkafka: invalid FLEX_KAFKA_PRODUCER_MAX_BUFFERED "abc": want a whole number of messages, at least 1`},
		{name: "env zero", env: "0", wantErr: `flexkafka: invalid FLEX_KAFKA_PRODUCER_MAX_BUFFERED "0": want a whole number of messages, at least 1`},
		{name: "option beats env", env: "abc", opts: []flexkafka.ProducerOption{flexkafka.WithMaxBuffered(3)}, bound: 3, wantBound: "bound of 3 (WithMaxBuffered(3))"},
		{name: "env", env: " 7 ", bound: 7, wantBound: "bound of 7 (FLEX_KAFKA_PRODUCER_MAX_BUFFERED)"},
		{name: "default", bound: flexkafka.DefaultMaxBuffered, wantBound: "bound of 10000 (DefaultMaxBuffered)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(flexkafka.EnvProducerMaxBuffered, tc.env)
			p, err := flexkafka.NewProducer(append(base, tc.opts...)...)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("NewProducer = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewProducer: %v", err)
			}
			defer haltNow(t, p)
			err = p.Produce(context.Background(), make([]kafka.Message, tc.bound+1)...)
			if !errors.Is(err, flexkafka.ErrBufferFull) || !strings.Contains(err.Error(), tc.wantBound) {
				t.Fatalf("Produce of %d messages = %v, want ErrBufferFull naming the %s", tc.bound+1, err, tc.wantBound)
			}
		})
	}
}
