package main

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestDatabaseOutageDeadLettersNothing is the fault that used to strand
// paid orders: the consumers' database goes away while their events
// arrive. They keep retrying, holding their partitions, and their Check
// (so /readyz) says which message is stuck; once the database is back,
// every order is paid and shipped and nothing is dead-lettered.
func TestDatabaseOutageDeadLettersNothing(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.SQLiteBusyTimeout = 50 * time.Millisecond // a writer gives up fast while another process holds the lock
		testDatabaseOutage(t, cfg, func(t *testing.T, _ *sql.DB) func() {
			return holdSQLiteWriteLock(t, cfg.SQLitePath)
		})
	})
	t.Run("postgres", func(t *testing.T) {
		cfg := testConfig(t)
		testPostgres(t, &cfg)
		proxy := newTCPProxy(t, postgresAddr(t))
		direct := cfg.DatabaseURL
		cfg.DatabaseURL = proxy.rewrite(t, cfg.DatabaseURL)
		testDatabaseOutage(t, cfg, func(t *testing.T, _ *sql.DB) func() {
			proxy.cut() // the service's connections, and every new one, fail
			return proxy.restore
		}, direct)
	})
}

// testDatabaseOutage starts the system, writes orders straight into the
// database (their events not yet published), injects the fault with
// outage, publishes the orders' events, waits until the payments consumer
// is retrying, and ends the fault. direct, when given, is the database URL
// the test itself uses, past the fault.
func testDatabaseOutage(t *testing.T, cfg config, outage func(*testing.T, *sql.DB) (heal func()), direct ...string) {
	testKafka(t, &cfg)
	sys := start(t, cfg)
	db := sys.db
	if len(direct) > 0 {
		own := cfg
		own.DatabaseURL = direct[0]
		db = openTestDB(t, own)
	}
	const n = 6
	ids := make([]string, n)
	msgs := make([]kafka.Message, n)
	for i := range ids {
		ids[i] = newOrderID()
		msgs[i] = insertOrderWithoutEvent(t, db, sys.store.topics, ids[i])
	}

	heal := outage(t, db)
	publish(t, cfg.Brokers, msgs...)
	waitFor(t, "the payments consumer retrying", func() bool { return len(sys.payments.Stats().Retrying) > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := sys.payments.Check(ctx); err == nil || !strings.Contains(err.Error(), sys.store.topics.status(statusCreated)) {
		t.Errorf("payments Check during the outage = %v, want it to name the partition being retried", err)
	}
	// Retry a while longer, as through a real outage, before healing.
	retries := sys.payments.Stats().Retries
	waitFor(t, "more retries", func() bool { return sys.payments.Stats().Retries >= retries+3 })
	heal()
	// The API's pool, which the outage cut too, answers 503 (Retry-After)
	// until it has replaced its broken connections.
	waitFor(t, "the API answering again", func() bool {
		resp, err := http.Get(sys.url + "/orders/" + ids[0])
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	for _, id := range ids {
		waitForStatus(t, sys.url, id, statusShipped)
	}
	for _, c := range []*struct {
		name  string
		stats func() uint64
	}{
		{"payments", func() uint64 { return sys.payments.Stats().DeadLettered }},
		{"shipping", func() uint64 { return sys.shipping.Stats().DeadLettered }},
	} {
		if got := c.stats(); got != 0 {
			t.Errorf("%s dead-lettered %d messages during a database outage, want 0", c.name, got)
		}
	}
	if err := sys.payments.Check(ctx); err != nil {
		t.Errorf("payments Check after the outage = %v, want nil", err)
	}
	if err := sys.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// insertOrderWithoutEvent writes an order in status created, without its
// outbox row, and returns the event the relay would have published for it.
func insertOrderWithoutEvent(t *testing.T, db *sql.DB, tp topics, id string) kafka.Message {
	t.Helper()
	now := time.Now()
	if _, err := db.Exec(`INSERT INTO orders (id, customer, status, total_cents, created_at, updated_at) VALUES ($1, 'outage', 'created', 100, $2, $2)`,
		id, now.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO order_items (order_id, line, sku, qty, price_cents) VALUES ($1, 0, 'BOOK-1', 1, 100)`, id); err != nil {
		t.Fatal(err)
	}
	ev := `{"order_id":"` + id + `","status":"created","customer":"outage","total_cents":100,"time":"` + now.UTC().Format(time.RFC3339Nano) + `"}`
	return kafka.Message{Topic: tp.status(statusCreated), Key: []byte(id), Value: []byte(ev)}
}
