package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver, pure Go
)

// openDB opens PostgreSQL when cfg.DatabaseURL is set, else the SQLite file
// cfg.SQLitePath, checks that it answers and creates the schema. It reports
// whether the database is PostgreSQL: the SQL is the same for both but for
// one column type, and the cron lock differs.
func openDB(ctx context.Context, cfg config) (db *sql.DB, postgres bool, err error) {
	if cfg.DatabaseURL != "" {
		db, err = sql.Open("pgx", cfg.DatabaseURL)
		postgres = true
	} else {
		// WAL lets readers run beside the writer; busy_timeout makes a
		// writer wait for another instead of failing; BEGIN IMMEDIATE takes
		// the write lock when a transaction starts, so that a transaction
		// that reads, then writes, never fails to upgrade its lock.
		db, err = sql.Open("sqlite", "file:"+cfg.SQLitePath+
			"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate")
	}
	if err != nil {
		return nil, false, fmt.Errorf("orders: open database: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, false, fmt.Errorf("orders: %s: %w", describeDB(cfg), err)
	}
	for _, stmt := range schema(postgres) {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			db.Close()
			return nil, false, fmt.Errorf("orders: create schema in %s: %w", describeDB(cfg), err)
		}
	}
	return db, postgres, nil
}

// describeDB names the database for errors and logs, without the password
// a DATABASE_URL may hold.
func describeDB(cfg config) string {
	if cfg.DatabaseURL != "" {
		return "PostgreSQL at DATABASE_URL"
	}
	return fmt.Sprintf("SQLite file %q", cfg.SQLitePath)
}

// schema returns the statements that create the tables, idempotently.
// Timestamps are Unix milliseconds in a BIGINT, the same in both databases;
// only the column numbering rows in insertion order differs.
func schema(postgres bool) []string {
	serial := "INTEGER PRIMARY KEY" // SQLite: the rowid, growing with each insert
	if postgres {
		serial = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS orders (
			seq         ` + serial + `, -- orders the recent orders
			id          TEXT NOT NULL UNIQUE,
			customer    TEXT NOT NULL,
			status      TEXT NOT NULL,
			total_cents BIGINT NOT NULL,
			created_at  BIGINT NOT NULL,
			updated_at  BIGINT NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status, created_at)`,
		`CREATE TABLE IF NOT EXISTS order_items (
			order_id    TEXT NOT NULL REFERENCES orders (id),
			line        INTEGER NOT NULL,
			sku         TEXT NOT NULL,
			qty         BIGINT NOT NULL,
			price_cents BIGINT NOT NULL,
			PRIMARY KEY (order_id, line)
		)`,
		// The transactional outbox: a row is written in the same
		// transaction as the change it announces, and sent_at is set once
		// Kafka has acknowledged it.
		`CREATE TABLE IF NOT EXISTS outbox (
			id         ` + serial + `,
			topic      TEXT NOT NULL,
			msg_key    TEXT NOT NULL,
			payload    TEXT NOT NULL,
			created_at BIGINT NOT NULL,
			sent_at    BIGINT
		)`,
		`CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE sent_at IS NULL`,
	}
}
