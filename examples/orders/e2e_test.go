package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

// TestEndToEnd runs the whole system as main does, with its own in-process
// Kafka cluster and an SQLite file: orders posted over HTTP get paid and
// shipped through Kafka, and the system shuts down cleanly.
func TestEndToEnd(t *testing.T) {
	cfg := testConfig(t)
	if env := os.Getenv(envTestBrokers); env != "" {
		useTestBrokers(t, &cfg, env)
	} else {
		t.Setenv(flexkafka.EnvBrokers, "") // the in-process cluster, as `go run` without configuration
	}
	testEndToEnd(t, cfg)
}

// TestEndToEndPostgres is TestEndToEnd on PostgreSQL, in a schema of its
// own, when DATABASE_URL is set.
func TestEndToEndPostgres(t *testing.T) {
	cfg := testConfig(t)
	testPostgres(t, &cfg)
	testKafka(t, &cfg)
	testEndToEnd(t, cfg)
}

func testEndToEnd(t *testing.T, cfg config) {
	sys := start(t, cfg)
	if cfg.Brokers == nil && sys.kafka == nil {
		t.Fatal("no broker configured, but no in-process Kafka cluster started")
	}

	const n = 5
	created := make([]order, n)
	for i := range created {
		created[i] = createOrder(t, sys.url, "customer-"+string(rune('a'+i)))
	}
	for _, o := range created {
		waitForStatus(t, sys.url, o.ID, statusShipped)
	}

	var got order
	if code := do(t, "GET", sys.url+"/orders/"+created[0].ID, nil, &got); code != http.StatusOK {
		t.Fatalf("GET /orders/{id} = %d, want 200", code)
	}
	if got.Customer != "customer-a" || got.TotalCents != 2*1250+499 || len(got.Items) != 2 ||
		got.Items[1] != (item{SKU: "TEA-7", Qty: 1, PriceCents: 499}) || got.UpdatedAt.Before(got.CreatedAt) {
		t.Errorf("GET /orders/{id} = %+v, want the order as created, shipped", got)
	}

	var list struct{ Orders []order }
	if code := do(t, "GET", sys.url+"/orders?limit=3", nil, &list); code != http.StatusOK {
		t.Fatalf("GET /orders = %d, want 200", code)
	}
	if len(list.Orders) != 3 {
		t.Fatalf("GET /orders?limit=3 returned %d orders, want 3", len(list.Orders))
	}
	for i, o := range list.Orders {
		if want := created[n-1-i].ID; o.ID != want || len(o.Items) != 2 {
			t.Errorf("GET /orders: order %d = %s with %d items, want %s (newest first) with 2", i, o.ID, len(o.Items), want)
		}
	}

	var conflict problem
	if code := do(t, "POST", sys.url+"/orders/"+created[0].ID+"/cancel", nil, &conflict); code != http.StatusConflict {
		t.Errorf("cancel a shipped order = %d %+v, want 409", code, conflict)
	}

	// Messages no handler can ever handle go to the dead-letter topic at
	// once, without retries, and do not stop the consumer.
	brokers := cfg.Brokers
	if sys.kafka != nil {
		brokers = sys.kafka.ListenAddrs()
	}
	topic := sys.store.topics.status(statusCreated)
	publish(t, brokers,
		kafka.Message{Topic: topic, Value: []byte("not json")},
		kafka.Message{Topic: topic, Value: []byte(`{"order_id":"ord_from_elsewhere","status":"created"}`)})
	waitFor(t, "bad messages dead-lettered", func() bool { return sys.payments.Stats().DeadLettered == 2 })
	if retries := sys.payments.Stats().Retries; retries != 0 {
		t.Errorf("payments consumer retried %d times, want no retry of a permanent failure", retries)
	}
	late := createOrder(t, sys.url, "after-the-bad-message")
	waitForStatus(t, sys.url, late.ID, statusShipped)

	checkOps(t, sys)

	if err := sys.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	db := openTestDB(t, cfg)
	for _, o := range append(created, late) {
		for _, s := range []status{statusCreated, statusPaid, statusShipped} {
			rows, unsent := outboxRows(t, db, sys.store.topics.status(s), o.ID)
			if rows != 1 || unsent != 0 {
				t.Errorf("order %s: %d %s events in the outbox, %d unsent; want 1, all sent", o.ID, rows, s, unsent)
			}
		}
	}
}

// checkOps checks the operations server: readiness with the database
// check, and the metrics of the API, the lifecycle and the outbox.
func checkOps(t *testing.T, sys *system) {
	t.Helper()
	var report struct {
		Status string
		Checks []struct{ Name, Status string }
	}
	if code := do(t, "GET", sys.opsURL+"/readyz", nil, &report); code != http.StatusOK || report.Status != "ok" {
		t.Errorf("GET /readyz = %d %+v, want 200 ok", code, report)
	}
	found := false
	for _, c := range report.Checks {
		found = found || c.Name == "database" && c.Status == "ok"
	}
	if !found {
		t.Errorf("/readyz checks = %+v, want a passing database check", report.Checks)
	}
	if code := do(t, "GET", sys.url+"/readyz", nil, &report); code != http.StatusOK {
		t.Errorf("GET /readyz on the public API = %d, want 200", code)
	}

	resp, err := http.Get(sys.opsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`http_requests_total{code="201",method="POST",route="POST /orders"}`,
		`flex_worker_up{worker="outbox-relay"} 1`,
		`orders_outbox_published_total`,
		`orders_cron_runs_total{job="expire-unpaid-orders"}`,
		`orders_kafka_consumer_dead_lettered_total{group="` + sys.store.topics.group("payments") + `",topic="` + sys.store.topics.status(statusCreated) + `"} 2`,
		`orders_kafka_consumer_partitions_retrying{group="` + sys.store.topics.group("payments") + `"} 0`,
		`orders_kafka_producer_buffered `, // the relay may be publishing the last event
		`orders_by_status{status="shipped"} `,
		`orders_by_status{status="expired"} `,
		`orders_outbox_pending `,
		`orders_outbox_oldest_pending_age_seconds `,
		`orders_db_metrics_errors_total 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code := do(t, "GET", sys.opsURL+"/debug/pprof/cmdline", nil, nil); code != http.StatusOK {
		t.Errorf("GET /debug/pprof/cmdline on ops = %d, want 200", code)
	}
	if code := do(t, "GET", sys.url+"/debug/pprof/cmdline", nil, nil); code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/cmdline on the public API = %d, want 404", code)
	}
}

// TestNoOrderLostAcrossRestart shuts the system down while orders are
// being posted, then starts it again on the same database and Kafka
// cluster: every order that was answered 201 gets shipped, once.
//
// In the first run the relay's poll never comes, nor is it woken by the
// commits, so the orders' events are
// published only by the relay's last pass at shutdown, after the
// consumers have halted: the second run has all of them to handle.
func TestNoOrderLostAcrossRestart(t *testing.T) {
	forEachDatabase(t, testNoOrderLostAcrossRestart)
}

func testNoOrderLostAcrossRestart(t *testing.T, cfg config) {
	testKafka(t, &cfg)
	first := cfg
	first.OutboxInterval = time.Hour
	first.OutboxPollOnly = true
	sys := start(t, first)

	// One connection per request: a keep-alive client dials spare
	// connections that it may never use, and http.Server.Shutdown waits
	// up to 5 s for such connections, which never send a request.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	const n = 30
	var (
		mu       sync.Mutex
		accepted []string
		posted   sync.WaitGroup
		some     = make(chan struct{}, n)
	)
	for i := range n {
		posted.Add(1)
		go func() {
			defer posted.Done()
			var o order
			req, _ := http.NewRequest("POST", sys.url+"/orders", strings.NewReader(
				`{"customer":"c`+string(rune('a'+i%26))+`","items":[{"sku":"X","qty":1,"price_cents":100}]}`))
			resp, err := client.Do(req)
			if err != nil {
				return // refused: the server had stopped accepting
			}
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusCreated && json.NewDecoder(resp.Body).Decode(&o) == nil {
				mu.Lock()
				accepted = append(accepted, o.ID)
				mu.Unlock()
				some <- struct{}{}
			}
		}()
	}
	<-some // shut down while the other requests are in flight
	if err := sys.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	posted.Wait()
	t.Logf("%d of %d orders accepted before shutdown", len(accepted), n)

	db := openTestDB(t, cfg)
	var stored int
	if err := db.QueryRow(`SELECT COUNT(*) FROM orders`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != len(accepted) {
		t.Errorf("%d orders stored, %d answered 201: want the same", stored, len(accepted))
	}
	for _, id := range accepted {
		if rows, unsent := outboxRows(t, db, sys.store.topics.status(statusCreated), id); rows != 1 || unsent != 0 {
			t.Errorf("order %s: %d orders.created events, %d unsent after shutdown; want 1, published", id, rows, unsent)
		}
		if rows, _ := outboxRows(t, db, sys.store.topics.status(statusPaid), id); rows != 0 {
			t.Errorf("order %s paid in the first run: the consumers halted before the relay published", id)
		}
	}

	sys = start(t, cfg)
	for _, id := range accepted {
		waitForStatus(t, sys.url, id, statusShipped)
	}
	if err := sys.stop(); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	for _, id := range accepted {
		for _, s := range []status{statusPaid, statusShipped} {
			if rows, _ := outboxRows(t, db, sys.store.topics.status(s), id); rows != 1 {
				t.Errorf("order %s: %d %s events, want 1", id, rows, s)
			}
		}
	}
}

// TestDuplicateDeliveryAppliesOnce delivers the events of a shipped order
// again, as Kafka may after a crash: nothing changes and nothing more is
// published.
func TestDuplicateDeliveryAppliesOnce(t *testing.T) {
	forEachDatabase(t, testDuplicateDeliveryAppliesOnce)
}

func testDuplicateDeliveryAppliesOnce(t *testing.T, cfg config) {
	testKafka(t, &cfg)
	sys := start(t, cfg)

	o := createOrder(t, sys.url, "twice")
	waitForStatus(t, sys.url, o.ID, statusShipped)
	handled := func(payments, shipping uint64) func() bool {
		return func() bool {
			return sys.payments.Stats().Messages == payments && sys.shipping.Stats().Messages == shipping
		}
	}
	waitFor(t, "first deliveries counted", handled(1, 1))

	for _, s := range []status{statusCreated, statusPaid} {
		var payload string
		err := sys.db.QueryRow(`SELECT payload FROM outbox WHERE topic = $1 AND msg_key = $2`,
			sys.store.topics.status(s), o.ID).Scan(&payload)
		if err != nil {
			t.Fatal(err)
		}
		msg := kafka.Message{Topic: sys.store.topics.status(s), Key: []byte(o.ID), Value: []byte(payload)}
		publish(t, cfg.Brokers, msg, msg) // twice more
	}
	waitFor(t, "duplicates handled", handled(3, 3))

	var got order
	do(t, "GET", sys.url+"/orders/"+o.ID, nil, &got)
	if got.Status != statusShipped {
		t.Errorf("status after duplicates = %s, want shipped", got.Status)
	}
	for _, s := range []status{statusPaid, statusShipped} {
		if rows, _ := outboxRows(t, sys.db, sys.store.topics.status(s), o.ID); rows != 1 {
			t.Errorf("%d %s events after duplicate deliveries, want 1", rows, s)
		}
	}
	if err := sys.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestReadinessChecksDatabase checks that /readyz fails when the database
// does not answer, naming the check.
func TestReadinessChecksDatabase(t *testing.T) {
	cfg := testConfig(t)
	testKafka(t, &cfg)
	sys := start(t, cfg)
	if code := do(t, "GET", sys.opsURL+"/readyz", nil, nil); code != http.StatusOK {
		t.Fatalf("GET /readyz = %d, want 200", code)
	}
	sys.db.Close()
	var report struct {
		Checks []struct{ Name, Status, Error string }
	}
	if code := do(t, "GET", sys.opsURL+"/readyz", nil, &report); code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with the database closed = %d, want 503", code)
	}
	failed := false
	for _, c := range report.Checks {
		failed = failed || c.Name == "database" && c.Status == "fail" && strings.Contains(c.Error, "closed")
	}
	if !failed {
		t.Errorf("/readyz checks = %+v, want the database check failing, saying the database is closed", report.Checks)
	}
	if err := sys.stop(); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// publish writes msgs with a raw kafka-go writer, as another producer would.
func publish(t *testing.T, brokers []string, msgs ...kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), RequiredAcks: kafka.RequireAll, BatchTimeout: 1}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("publish: %v", err)
	}
}
