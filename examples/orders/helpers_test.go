package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// envTestBrokers, when set, runs the Kafka tests against a real cluster,
// with topics and groups prefixed uniquely for the run.
const envTestBrokers = "FLEX_KAFKA_TEST_BROKERS"

// waitTimeout bounds every wait. It is not a performance target: it turns
// a hang into a failure.
const waitTimeout = 30 * time.Second

// testLogger discards logs unless ORDERS_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("ORDERS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testConfig returns a configuration for one test: an SQLite file in
// t.TempDir(), free loopback ports, fast outbox and consumer timings, no
// signal handling. Kafka is left to the caller (see testKafka).
func testConfig(t testing.TB) config {
	dir := t.TempDir()
	return config{
		SQLitePath:      filepath.Join(dir, "orders.db"),
		KafkaDataDir:    filepath.Join(dir, "kafka"),
		OutboxInterval:  10 * time.Millisecond,
		PaymentTimeout:  time.Hour,
		ExpirySpec:      "@every 1h",
		HTTPAddr:        "127.0.0.1:0",
		MetricsAddr:     "127.0.0.1:0",
		Logger:          testLogger(),
		ServiceOptions:  []flex.Option{flex.WithSignals(), flex.WithShutdownTimeout(20 * time.Second)},
		RetryBackoffMin: time.Millisecond,
		RetryBackoffMax: 5 * time.Millisecond,
		ConsumerOptions: []flexkafka.ConsumerOption{
			flexkafka.WithGroupTimings(100*time.Millisecond, 6*time.Second, 3*time.Second),
			flexkafka.WithJoinBackoff(100 * time.Millisecond),
			flexkafka.WithFetchMaxWait(50 * time.Millisecond),
			flexkafka.WithCommitInterval(20 * time.Millisecond),
		},
	}
}

// testKafka sets cfg's brokers to an in-process kfake cluster owned by the
// test, which outlives restarts of the system, or to the real cluster of
// FLEX_KAFKA_TEST_BROKERS with a prefix unique to the test.
func testKafka(t testing.TB, cfg *config) {
	t.Helper()
	if env := os.Getenv(envTestBrokers); env != "" {
		useTestBrokers(t, cfg, env)
		return
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	cfg.Brokers = cluster.ListenAddrs()
}

// useTestBrokers points cfg at a real cluster, with topics and groups
// unique to the test, deleted when it ends.
func useTestBrokers(t testing.TB, cfg *config, env string) {
	cfg.Brokers = strings.Split(env, ",")
	cfg.KafkaPrefix = "test-" + strings.ToLower(rand.Text()[:8]) + "."
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...)}
		client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics{prefix: cfg.KafkaPrefix}.all()})
	})
}

// testPostgres sets cfg's DATABASE_URL to a schema of its own in the
// database of DATABASE_URL, dropped when the test ends, and skips the test
// when DATABASE_URL is not set.
func testPostgres(t testing.TB, cfg *config) {
	t.Helper()
	base := os.Getenv(envDatabaseURL)
	if base == "" {
		t.Skip("DATABASE_URL not set: PostgreSQL tests skipped")
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema := "orders_test_" + strings.ToLower(rand.Text()[:10])
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("DATABASE_URL is set but PostgreSQL is unusable: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			t.Error(err)
			return
		}
		defer db.Close()
		if _, err := db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema) // pgx sends it as a run-time parameter
	u.RawQuery = q.Encode()
	cfg.DatabaseURL = u.String()
}

// forEachDatabase runs test on SQLite, and on PostgreSQL when
// DATABASE_URL is set, each with a configuration from testConfig.
func forEachDatabase(t *testing.T, test func(t *testing.T, cfg config)) {
	t.Run("sqlite", func(t *testing.T) { test(t, testConfig(t)) })
	t.Run("postgres", func(t *testing.T) {
		cfg := testConfig(t)
		testPostgres(t, &cfg)
		test(t, cfg)
	})
}

// system is the order system running in the test's process.
type system struct {
	*app
	url    string // the public API, "http://127.0.0.1:port"
	opsURL string // the operations server
	stop   func() error
}

// start builds the system from cfg and starts it. stop cancels its
// context, as a SIGTERM would, waits for it to shut down and returns the
// error of start; the test calls it, or else a cleanup does.
func start(t testing.TB, cfg config) *system {
	t.Helper()
	a, err := newApp(context.Background(), cfg)
	if err != nil {
		t.Fatalf("newApp: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.start(ctx) }()

	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		defer a.close()
		select {
		case err := <-done:
			return err
		case <-time.After(waitTimeout):
			t.Fatal("the system did not shut down")
			return nil
		}
	}
	t.Cleanup(func() { stop() })

	for _, ready := range []<-chan struct{}{a.api.Ready(), a.ops.Ready(), a.consumers.Ready()} {
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("the system stopped while starting: %v", err)
		case <-time.After(waitTimeout):
			t.Fatal("the system did not become ready")
		}
	}
	return &system{app: a, url: "http://" + a.api.Addr(), opsURL: "http://" + a.ops.Addr(), stop: stop}
}

// do sends a request with a JSON body (nil for none) and decodes the JSON
// answer into out (nil to skip). It returns the status code.
func do(t testing.TB, method, url string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %d, decode answer: %v", method, url, resp.StatusCode, err)
		}
	}
	return resp.StatusCode
}

// anOrder is a valid request body.
func anOrder(customer string) newOrderRequest {
	return newOrderRequest{Customer: customer, Items: []item{
		{SKU: "BOOK-1", Qty: 2, PriceCents: 1250},
		{SKU: "TEA-7", Qty: 1, PriceCents: 499},
	}}
}

// createOrder posts a valid order and returns it.
func createOrder(t testing.TB, baseURL, customer string) order {
	t.Helper()
	var o order
	if code := do(t, "POST", baseURL+"/orders", anOrder(customer), &o); code != http.StatusCreated {
		t.Fatalf("POST /orders = %d, want 201", code)
	}
	return o
}

// waitFor polls cond, which observes work done by other goroutines (the
// consumers, the relay), until it holds, and fails the test after
// waitTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitForStatus waits until GET /orders/{id} answers the order in status want.
func waitForStatus(t testing.TB, baseURL, id string, want status) {
	t.Helper()
	var got order
	waitFor(t, fmt.Sprintf("order %s %s (last seen %q)", id, want, got.Status), func() bool {
		got = order{}
		do(t, "GET", baseURL+"/orders/"+id, nil, &got)
		return got.Status == want
	})
}

// outboxRows counts the outbox rows of an order's events on topic, and how
// many of them are still unsent.
func outboxRows(t testing.TB, db *sql.DB, topic, orderID string) (rows, unsent int) {
	t.Helper()
	err := db.QueryRow(`SELECT COUNT(*), COUNT(*) - COUNT(sent_at) FROM outbox WHERE topic = $1 AND msg_key = $2`,
		topic, orderID).Scan(&rows, &unsent)
	if err != nil {
		t.Fatal(err)
	}
	return rows, unsent
}

// openTestDB opens the database of cfg, for checks made while the system
// is stopped.
func openTestDB(t testing.TB, cfg config) *sql.DB {
	t.Helper()
	db, _, err := openDB(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// testStore returns a store on a new SQLite file, without Kafka.
func testStore(t testing.TB) *store {
	t.Helper()
	cfg := testConfig(t)
	return &store{db: openTestDB(t, cfg), topics: topics{}}
}
