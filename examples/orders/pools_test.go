package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPoolsBounded is the chaos suite's finding on PostgreSQL: after a
// restart, a herd of clients made database/sql open a connection for each
// (PostgreSQL forks a backend per connection) and requests timed out
// connecting. With ORDERS_DB_MAX_CONNS=2, thirty concurrent creates share
// two connections, and /metrics says so.
func TestPoolsBounded(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		testKafka(t, &cfg)
		cfg.DBMaxConns, cfg.DBPipeConns = 2, 3
		sys := start(t, cfg)
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() { createOrder(t, sys.url, fmt.Sprintf("herd-%d", i)) })
		}
		wg.Wait()
		if got := sys.db.Stats(); got.MaxOpenConnections != 2 || got.OpenConnections > 2 {
			t.Errorf("API pool: max %d, open %d; want max 2", got.MaxOpenConnections, got.OpenConnections)
		}
		resp, err := http.Get(sys.opsURL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{
			`go_sql_max_open_connections{db_name="api"} 2`,
			`go_sql_max_open_connections{db_name="pipeline"} 3`,
			`go_sql_wait_count_total{db_name="api"}`,
			`go_sql_in_use_connections{db_name="pipeline"}`,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// TestPipelineOwnPool holds every connection of the API's pool, as a herd
// of requests does: orders are still paid and shipped, on the pipeline's
// own pool.
func TestPipelineOwnPool(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		testKafka(t, &cfg)
		cfg.DBMaxConns = 1
		sys := start(t, cfg)
		direct := openTestDB(t, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		held, err := sys.db.Conn(ctx) // the API's only connection
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()

		id := newOrderID()
		msg := insertOrderWithoutEvent(t, direct, sys.store.topics, id)
		if _, err := direct.Exec(`INSERT INTO outbox (topic, msg_key, payload, created_at) VALUES ($1, $2, $3, $4)`,
			msg.Topic, id, string(msg.Value), time.Now().UnixMilli()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "order "+id+" shipped with the API's pool exhausted", func() bool {
			var s status
			direct.QueryRow(`SELECT status FROM orders WHERE id = $1`, id).Scan(&s)
			return s == statusShipped
		})
	})
}
