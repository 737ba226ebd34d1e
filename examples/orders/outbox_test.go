package main

import (
	"cmp"
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flex/flextest"
	"github.com/go-flexible/flexible/flexkafka"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

func TestRelayConformance(t *testing.T) {
	s := testStore(t)
	cluster := newKfake(t, s.topics.all()...)
	flextest.TestWorker(t, func(t *testing.T) flex.Worker {
		return newRelay(s, newProducer(t, cluster.ListenAddrs()), time.Millisecond, testLogger())
	})
}

// TestRelayMarksSentOnlyAfterWrite publishes the outbox to a broker that is
// down, then up: the rows stay unsent until Kafka has acknowledged them.
func TestRelayMarksSentOnlyAfterWrite(t *testing.T) {
	s := testStore(t)
	ctx := t.Context()
	var ids []string
	for _, c := range []string{"a", "b", "c"} {
		o, err := s.createOrder(ctx, anOrder(c))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
	}

	down := newKfake(t, s.topics.all()...)
	addrs := down.ListenAddrs()
	down.Close()
	r := newRelay(s, newProducer(t, addrs, flexkafka.WithWriteAttempts(1)), time.Hour, testLogger())
	if err := r.publishAll(ctx); err == nil {
		t.Fatal("publish to a broker that is down: no error")
	}
	if pending, err := s.pendingOutbox(ctx, 10); err != nil || len(pending) != 3 {
		t.Fatalf("after a failed publish: %d rows pending (%v), want 3", len(pending), err)
	}
	if got := r.failures.Load(); got != 1 {
		t.Errorf("failures = %d, want 1", got)
	}

	up := newKfake(t, s.topics.all()...)
	r = newRelay(s, newProducer(t, up.ListenAddrs()), time.Hour, testLogger())
	if err := r.publishAll(ctx); err != nil {
		t.Fatal(err)
	}
	if pending, err := s.pendingOutbox(ctx, 10); err != nil || len(pending) != 0 {
		t.Fatalf("after a publish: %d rows pending (%v), want none", len(pending), err)
	}
	msgs := readTopic(t, up.ListenAddrs(), s.topics.status(statusCreated), 3)
	for i, m := range msgs {
		ev, err := decodeEvent(m)
		if err != nil || string(m.Key) != ev.OrderID || !contains(ids, ev.OrderID) || ev.Status != statusCreated {
			t.Errorf("message %d = key %s, event %+v, %v; want one of the orders, keyed by its ID", i, m.Key, ev, err)
		}
	}
}

// TestRelayPublishesOnHalt checks that halting the relay publishes the
// rows written since its last pass, as the consumers' last ones are.
func TestRelayPublishesOnHalt(t *testing.T) {
	s := testStore(t)
	cluster := newKfake(t, s.topics.all()...)
	r := newRelay(s, newProducer(t, cluster.ListenAddrs()), time.Hour, testLogger())
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	<-r.Ready()
	if _, err := s.createOrder(t.Context(), anOrder("last")); err != nil {
		t.Fatal(err)
	}
	if err := r.Halt(t.Context()); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if pending, _ := s.pendingOutbox(t.Context(), 10); len(pending) != 0 {
		t.Errorf("%d rows pending after Halt, want 0", len(pending))
	}
}

// TestRelayHaltDeadline halts a relay whose broker accepts connections but
// never answers, with a short deadline: Halt gives up, saying why, Run
// returns, and the row stays in the outbox for the next start.
func TestRelayHaltDeadline(t *testing.T) {
	s := testStore(t)
	if _, err := s.createOrder(t.Context(), anOrder("stuck")); err != nil {
		t.Fatal(err)
	}
	r := newRelay(s, newProducer(t, []string{silentBroker(t)}), time.Hour, testLogger())
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	<-r.Ready()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := r.Halt(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Halt = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after Halt gave up")
	}
	if pending, _ := s.pendingOutbox(t.Context(), 10); len(pending) != 1 {
		t.Errorf("%d rows pending, want the unpublished row kept", len(pending))
	}
}

// silentBroker returns the address of a listener that accepts connections
// and never answers, as a broker stuck in a network partition.
func silentBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func newKfake(t *testing.T, topics ...string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newProducer(t *testing.T, brokers []string, opts ...flexkafka.ProducerOption) *flexkafka.Producer {
	t.Helper()
	p, err := flexkafka.NewProducer(append([]flexkafka.ProducerOption{
		flexkafka.WithBrokers(brokers...), flexkafka.WithLogger(testLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Halt(context.Background()) })
	return p
}

// readTopic reads n messages from every partition of topic.
func readTopic(t *testing.T, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	var msgs []kafka.Message
	for p := range partitions {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 50 * time.Millisecond})
		conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, p)
		if err != nil {
			t.Fatal(err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		for range last {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("read %s/%d: %v", topic, p, err)
			}
			msgs = append(msgs, m)
		}
		r.Close()
	}
	if len(msgs) != n {
		t.Fatalf("%s holds %d messages, want %d", topic, len(msgs), n)
	}
	return msgs
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestClaimOutboxPostgres claims PostgreSQL's outbox rows through a
// connection that counts its statements: the rows are passed oldest
// first, nobody else sees them sent until publish has returned nil, a
// failed publish leaves them unsent, and a batch takes three statements
// (BEGIN, the claim that marks them, COMMIT), not four.
func TestClaimOutboxPostgres(t *testing.T) {
	cfg := testConfig(t)
	testPostgres(t, &cfg)
	ctx := t.Context()
	s := &store{db: openTestDB(t, cfg), postgres: true}
	for _, c := range []string{"a", "b", "c", "d", "e"} {
		if _, err := s.createOrder(ctx, anOrder(c)); err != nil {
			t.Fatal(err)
		}
	}

	connCfg, err := pgx.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	var statements atomic.Int64
	connCfg.Tracer = statementCounter{&statements}
	counted := stdlib.OpenDB(*connCfg)
	t.Cleanup(func() { counted.Close() })
	claimer := &store{db: counted, postgres: true}

	unsentWhilePublishing := func(rows []outboxRow) {
		t.Helper()
		if !slices.IsSortedFunc(rows, func(a, b outboxRow) int { return cmp.Compare(a.id, b.id) }) {
			t.Errorf("rows passed out of order: %v", outboxIDs(rows))
		}
		if pending, err := s.pendingOutbox(ctx, 10); err != nil || len(pending) != 5 {
			t.Errorf("while publishing: %d rows unsent to others (%v), want 5", len(pending), err)
		}
	}
	failed := errors.New("kafka is down")
	if _, err := claimer.claimOutbox(ctx, 10, func(rows []outboxRow) error {
		unsentWhilePublishing(rows)
		return failed
	}); !errors.Is(err, failed) {
		t.Fatalf("claim with a failing publish: %v, want %v", err, failed)
	}
	if pending, err := s.pendingOutbox(ctx, 10); err != nil || len(pending) != 5 {
		t.Fatalf("after a failed publish: %d rows unsent (%v), want 5", len(pending), err)
	}

	statements.Store(0)
	n, err := claimer.claimOutbox(ctx, 10, func(rows []outboxRow) error {
		unsentWhilePublishing(rows)
		return nil
	})
	if err != nil || n != 5 {
		t.Fatalf("claim: %d rows, %v; want 5", n, err)
	}
	if got := statements.Load(); got != 3 {
		t.Errorf("a batch took %d statements, want 3 (BEGIN, claim, COMMIT)", got)
	}
	if pending, err := s.pendingOutbox(ctx, 10); err != nil || len(pending) != 0 {
		t.Fatalf("after a publish: %d rows unsent (%v), want none", len(pending), err)
	}
}

// statementCounter counts the statements a pgx connection sends.
type statementCounter struct{ n *atomic.Int64 }

func (c statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
