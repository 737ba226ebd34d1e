package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"testing"
	"time"
)

// BenchmarkCreateOrder measures what the transactional outbox costs: the
// store's createOrder (order, items and outbox row in one transaction)
// against the same transaction without the outbox row, side by side on the
// same database. The "outbox-x" metric is the ratio of the two.
func BenchmarkCreateOrder(b *testing.B) {
	s := benchStore(b)
	req := anOrder("bench")
	ctx := context.Background()
	var raw, withOutbox float64
	b.Run("without-outbox", func(b *testing.B) {
		for b.Loop() {
			if err := insertWithoutOutbox(ctx, s.db, req); err != nil {
				b.Fatal(err)
			}
		}
		raw = float64(b.Elapsed()) / float64(b.N)
	})
	b.Run("with-outbox", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.createOrder(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
		withOutbox = float64(b.Elapsed()) / float64(b.N)
		if raw > 0 {
			b.ReportMetric(withOutbox/raw, "outbox-x")
		}
	})
}

// insertWithoutOutbox is createOrder's transaction without the outbox row,
// as a service that publishes to Kafka after committing (and loses the
// event when it crashes in between) would write it.
func insertWithoutOutbox(ctx context.Context, db *sql.DB, req newOrderRequest) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	id := "raw_" + rand.Text()
	now := time.Now().UnixMilli()
	if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id, customer, status, total_cents, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5)`, id, req.Customer, statusCreated, total(req.Items), now); err != nil {
		return err
	}
	for i, it := range req.Items {
		if _, err := tx.ExecContext(ctx, `INSERT INTO order_items (order_id, line, sku, qty, price_cents)
			VALUES ($1, $2, $3, $4, $5)`, id, i+1, it.SKU, it.Qty, it.PriceCents); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// BenchmarkOrderToShipped measures the whole pipeline, one order at a
// time: POST /orders, then API → outbox → relay → Kafka → payments →
// outbox → relay → Kafka → shipping, until GET /orders/{id} says shipped.
// The relay polls every 10 ms, as in the tests (200 ms by default).
func BenchmarkOrderToShipped(b *testing.B) {
	cfg := testConfig(b)
	testKafka(b, &cfg)
	sys := start(b, cfg)
	for b.Loop() {
		o := createOrder(b, sys.url, "bench")
		for {
			var got order
			do(b, "GET", sys.url+"/orders/"+o.ID, nil, &got)
			if got.Status == statusShipped {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	if err := sys.stop(); err != nil {
		b.Fatal(err)
	}
}

// benchStore returns a store on PostgreSQL when DATABASE_URL is set, else
// on SQLite.
func benchStore(b *testing.B) *store {
	b.Helper()
	cfg := testConfig(b)
	if os.Getenv(envDatabaseURL) != "" {
		testPostgres(b, &cfg)
	}
	return &store{db: openTestDB(b, cfg)}
}
