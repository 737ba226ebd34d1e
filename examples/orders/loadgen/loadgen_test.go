package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAuditPasses runs a short load with every kind of request against
// the order system (SQLite, and PostgreSQL when DATABASE_URL is set; its
// in-process broker) and audits it with every check, open and closed
// loop: the workflow settles and nothing is violated.
func TestAuditPasses(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		testAuditPasses(t, startOrders(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		testAuditPasses(t, startOrders(t, "DATABASE_URL="+testPostgres(t)))
	})
}

func testAuditPasses(t *testing.T, p *ordersProc) {
	var out strings.Builder
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	err := run(context.Background(), []string{
		"-url", p.api, "-ops-url", p.ops, "-database-url", p.dbURL,
		"-rate", "10", "-d", "2s", "-mix", "get=1,list=0.5,cancel=0.3",
		"-audit", "-settle", "30s", "-json", jsonPath,
	}, &out, new(strings.Builder), false)
	if err != nil {
		t.Fatalf("run = %v, want nil; output:\n%s\nthe order system's log:\n%s", err, &out, p.log)
	}
	rep := readReport(t, jsonPath)
	if rep.OrdersStarted != 20 || rep.OrdersCreated+rep.Unknown < 20 || rep.Latency["create"].N < 20 || rep.Latency["all"].P99 <= 0 {
		t.Errorf("-json report: started %d, created %d, unknown %d, create latency %+v, want 20 started and created",
			rep.OrdersStarted, rep.OrdersCreated, rep.Unknown, rep.Latency["create"])
	}
	if rep.Audit == nil || !rep.Audit.Settled || len(rep.Audit.Violations) != 0 || rep.Audit.States["shipped"] == 0 {
		t.Errorf("-json audit = %+v, want settled, shipped orders and no violation", rep.Audit)
	}
	for _, want := range []string{
		// Not "errors: none": on a busy machine a create may see a 503
		// (no database answer within 5 s) and be retried, which is the
		// point of its Idempotency-Key.
		"audit: settled after", "audit: ok, no violation",
		" 20 orders started, ", // one due every 100 ms for 2 s, whatever the latency
		"  create ", "  get ", "  list ", "  cancel ", "shipped ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
	t.Logf("open loop:\n%s", &out)
	if strings.Contains(out.String(), "skipped") {
		t.Errorf("a check was skipped:\n%s", &out)
	}

	// Closed loop, on the same system, with the progress line.
	out.Reset()
	var progress strings.Builder
	err = run(context.Background(), []string{
		"-url", p.api, "-ops-url", p.ops, "-database-url", p.dbURL,
		"-c", "2", "-d", "1s", "-progress", "-audit", "-settle", "30s",
	}, &out, &progress, false)
	if err != nil || !strings.Contains(out.String(), "audit: ok, no violation") {
		t.Fatalf("closed loop: run = %v, want nil; output:\n%s", err, &out)
	}
	t.Logf("closed loop:\n%s", &out)
	if got := progress.String(); !strings.Contains(got, " req/s ") || !strings.Contains(got, " errors  p99 ") {
		t.Errorf("progress = %q, want lines with req/s, errors and p99", got)
	}
}

// TestTransportErrors runs a load against a port where nothing listens:
// every request is refused, counted as such, and nothing is created.
func TestTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out strings.Builder
	err = run(context.Background(), []string{"-url", "http://" + addr, "-rate", "50", "-d", "200ms", "-retries", "1"}, &out, new(strings.Builder), false)
	if err != nil {
		t.Fatalf("run = %v, want nil without -audit", err)
	}
	for _, want := range []string{" 0 created ", "errors: ", " (refused ", "creates of unknown outcome (no answer or 503 after every retry): ", "orders by state at the end: no orders"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
}

// TestAuditFails audits an order system whose workflow cannot finish: its
// broker refuses every event the relay publishes, a malformed event was
// dead-lettered, and the database holds a paid order going nowhere and an
// expired order that was paid. The audit names each violation and run
// returns an *auditFailedError (exit status 1).
func TestAuditFails(t *testing.T) {
	t.Parallel()
	broker := testBroker(t)
	p := startOrders(t, "FLEX_KAFKA_BROKERS="+broker.addr)
	deadLetter(t, p, broker.addr) // before refusing: the dead letter is produced too
	broker.refuseProduceUntilCleanup(t)
	stuck, expiredPaid := injectBadOrders(t, p)

	var out strings.Builder
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	err := run(context.Background(), []string{
		"-url", p.api, "-ops-url", p.ops, "-database-url", p.dbURL,
		"-rate", "10", "-d", "1s", "-audit", "-settle", "1s", "-json", jsonPath,
	}, &out, new(strings.Builder), false)
	var failed *auditFailedError
	if !errors.As(err, &failed) {
		t.Fatalf("run = %v, want an *auditFailedError; output:\n%s", err, &out)
	}
	if rep := readReport(t, jsonPath); rep.Audit == nil || rep.Audit.Settled || len(rep.Audit.Violations) != len(failed.violations) {
		t.Errorf("-json audit = %+v, want not settled and the %d violations", rep.Audit, len(failed.violations))
	}
	for _, want := range []string{
		"audit: not settled within -settle 1s",
		"VIOLATION not-final: order ord_", // loadgen's own orders, never paid
		"VIOLATION outbox-backlog: ",
		"VIOLATION dead-letters: orders_kafka_consumer_dead_lettered_total is 1, more than the 0 allowed",
		fmt.Sprintf("VIOLATION stuck: order %s is still paid", stuck),
		fmt.Sprintf("VIOLATION expired-and-paid: order %s is expired, and its orders.paid event is in the outbox", expiredPaid),
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
	if got := err.Error(); !strings.Contains(got, "dead-letters 1, expired-and-paid 1, not-final ") || !strings.Contains(got, "outbox-backlog 1, stuck 1)") {
		t.Errorf("error = %q, want the count of each check", got)
	}

	// The same, with one dead letter allowed: that check passes.
	out.Reset()
	err = run(context.Background(), []string{
		"-url", p.api, "-ops-url", p.ops, "-d", "100ms", "-mix", "get=0", "-audit", "-settle", "0s", "-max-dead-letters", "1",
	}, &out, new(strings.Builder), false)
	if !errors.As(err, &failed) || strings.Contains(out.String(), "dead-letters") {
		t.Errorf("with -max-dead-letters 1: %v, want an audit failure without dead-letters:\n%s", err, &out)
	}
}

// TestAuditChecksHistory drives the audit directly against a running order
// system whose broker refuses every event: an order answered 201 that the
// API does not know is lost, an order seen paid that ends cancelled is a
// violation, and a create of unknown outcome is resolved with its
// Idempotency-Key.
func TestAuditChecksHistory(t *testing.T) {
	t.Parallel()
	broker := testBroker(t)
	p := startOrders(t, "FLEX_KAFKA_BROKERS="+broker.addr)
	broker.refuseProduceUntilCleanup(t)
	ctx := context.Background()
	c := newClient(p.api, 10*time.Second, 4, nil)
	b := newBook()
	id, res := c.create(ctx, randomOrder(), 0)
	if id == "" {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	if res := c.cancel(ctx, id); res.status != 200 {
		t.Fatalf("cancel: %d %s", res.status, res.body)
	}
	b.created(id)
	b.saw(id, "paid") // as if a GET had seen it paid before
	lost := "ord_" + strings.Repeat("a", 26)
	b.created(lost)
	// A create committed whose 201 the client never saw (cancelled since):
	// the audit sends it again with its key and finds the order.
	unseen := randomOrder()
	unseenID, res := c.create(ctx, unseen, 0)
	if unseenID == "" || c.cancel(ctx, unseenID).status != 200 {
		t.Fatalf("create and cancel: %d %s", res.status, res.body)
	}
	b.unknown(unseen)

	rep, err := audit(ctx, c, b, auditConfig{settle: 0, loadEnd: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(rep.violations)
	for _, want := range []string{
		fmt.Sprintf("VIOLATION lost: order %s was answered 201, but GET /orders/%s is 404", lost, lost),
		fmt.Sprintf("VIOLATION cancelled-and-paid: order %s was seen paid, and is now cancelled", id),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("violations %s lack %q", got, want)
		}
	}
	if len(rep.violations) != 2 {
		t.Errorf("violations = %s, want 2", got)
	}
	if got, want := fmt.Sprint(rep.states), "map[cancelled:2 missing:1]"; got != want {
		t.Errorf("states = %s, want %s", got, want)
	}
	if got := b.orders(); rep.resolved != 1 || !slices.Contains(got, unseenID) || len(got) != 3 {
		t.Errorf("resolved %d creates, orders %q: want 1, and %s among 3", rep.resolved, got, unseenID)
	}
}

// testKafka is a Kafka broker in the test's process (over TCP), for the
// order system and for the test to inject messages. While refuse is set
// it refuses every produce request: the relay cannot publish, so the
// workflow stands still, however soon the relay is woken.
type testKafka struct {
	addr   string
	refuse atomic.Bool
}

func testBroker(t *testing.T) *testKafka {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	k := &testKafka{addr: cluster.ListenAddrs()[0]}
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if !k.refuse.Load() {
			return nil, nil, false // the cluster handles it
		}
		return nil, errors.New("test: produce refused"), true // closes the producer's connection
	})
	return k
}

// refuseProduceUntilCleanup makes the broker refuse the order system's
// events from now on, and accept them again before the order system is
// stopped (cleanups run last first), so that it drains and exits 0.
func (k *testKafka) refuseProduceUntilCleanup(t *testing.T) {
	k.refuse.Store(true)
	t.Cleanup(func() { k.refuse.Store(false) })
}

// deadLetter publishes a malformed event to orders.created and waits until
// the payments consumer has dead-lettered it.
func deadLetter(t *testing.T, p *ordersProc, broker string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	w := &kafka.Writer{Addr: kafka.TCP(broker), Topic: "orders.created", BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("x"), Value: []byte("not an event")}); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := scrapeSum(ctx, newClient(p.ops, 5*time.Second, 1, nil).http, p.ops+"/metrics", deadLetterMetric)
		if err == nil && n == 1 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("not dead-lettered within %v (%v, %v); the order system's log:\n%s", waitTimeout, n, err, p.log)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// injectBadOrders writes two orders into the database behind the order
// system's back: one paid whose event was never written (it stays paid),
// and one expired with an orders.paid event in the outbox, marked sent.
func injectBadOrders(t *testing.T, p *ordersProc) (stuck, expiredPaid string) {
	t.Helper()
	db := writableDB(t, p.dbPath)
	now := time.Now().UnixMilli()
	stuck, expiredPaid = "ord_stuckstuckstuck", "ord_expiredbutpaid"
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO orders (id, customer, status, total_cents, created_at, updated_at) VALUES ('%s', 'test', 'paid', 100, %d, %d)`, stuck, now, now),
		fmt.Sprintf(`INSERT INTO orders (id, customer, status, total_cents, created_at, updated_at) VALUES ('%s', 'test', 'expired', 100, %d, %d)`, expiredPaid, now, now),
		fmt.Sprintf(`INSERT INTO outbox (topic, msg_key, payload, created_at, sent_at) VALUES ('orders.paid', '%s', '{}', %d, %d)`, expiredPaid, now, now),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return stuck, expiredPaid
}

// readReport decodes the report -json wrote to path.
func readReport(t *testing.T, path string) jsonReport {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("-json wrote no report: %v", err)
	}
	var rep jsonReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("-json report %s: %v", data, err)
	}
	return rep
}

func TestInvalidFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-url", "localhost:8080"}, `loadgen: invalid -url "localhost:8080": want http://host:port`},
		{[]string{"-rate", "0"}, `loadgen: invalid -rate 0: want more than 0`},
		{[]string{"-c", "-1"}, `loadgen: invalid -c -1: want 0 (use -rate) or more`},
		{[]string{"-d", "0s"}, `loadgen: invalid -d 0s: want more than 0`},
		{[]string{"-mix", "get=2"}, `loadgen: invalid -mix "get=2": "get=2" is not name=probability, with a probability from 0 to 1`},
		{[]string{"-mix", "buy=0.5"}, `loadgen: invalid -mix "buy=0.5": unknown "buy", want get, list or cancel`},
		{[]string{"-database-url", "mysql://u:secret@h/db"}, `loadgen: invalid -database-url "mysql://u:xxxxx@h/db": want postgres://… or sqlite:PATH`},
		{[]string{"extra"}, `loadgen: unexpected arguments ["extra"]`},
	} {
		err := run(context.Background(), tc.args, new(strings.Builder), new(strings.Builder), false)
		if err == nil || err.Error() != tc.want {
			t.Errorf("run(%q) = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestSumSamples reads a metric from a Prometheus text exposition, with
// and without labels, ignoring comments and metrics whose names only
// start the same.
func TestSumSamples(t *testing.T) {
	text := `# HELP orders_kafka_consumer_dead_lettered_total Messages published to the dead-letter topic.
# TYPE orders_kafka_consumer_dead_lettered_total counter
orders_kafka_consumer_dead_lettered_total{group="orders-payments",topic="orders.created"} 2
orders_kafka_consumer_dead_lettered_total{group="orders-shipping",topic="orders.paid"} 1.5 1700000000000
orders_kafka_consumer_dead_lettered_total_other 100
orders_kafka_consumer_dead_lettered_total 3
`
	got, err := sumSamples(strings.NewReader(text), deadLetterMetric)
	if err != nil || got != 6.5 {
		t.Errorf("sumSamples = %v, %v, want 6.5", got, err)
	}
	if _, err := sumSamples(strings.NewReader(deadLetterMetric+"{a=\"b\"} x\n"), deadLetterMetric); err == nil {
		t.Error("sumSamples of a malformed value: no error")
	}
}
