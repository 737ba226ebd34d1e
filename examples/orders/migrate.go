package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migration is one version of the schema: the statements that take a
// database from the previous version to this one.
type migration struct {
	version int
	name    string
	stmts   func(postgres bool) []string
}

// migrations are the versions of the schema, in order: migrations[i] is
// version i+1. Each is applied once per database. Never edit a released
// one: add a new version.
var migrations = []migration{
	{1, "orders, items and outbox", schemaV1},
	{2, "idempotency keys", schemaV2},
	{3, "cron job runs", schemaV3},
	{4, "re-driven orders", schemaV4},
}

// migrateLockClass is the first key of the advisory lock that serialises
// migrations on PostgreSQL; the second is a hash of the schema, so that
// databases in other schemas migrate independently. The two-key form
// never collides with dblock's single-key locks.
const migrateLockClass = 0x6f726472 // "ordr"

// migrate brings the schema to the last version, in one transaction that
// first takes a lock: on PostgreSQL a transaction-level advisory lock, on
// SQLite the write lock that the DSN's BEGIN IMMEDIATE takes at once. So
// replicas started together on an empty database migrate one after the
// other: the first creates the schema, the others find it current. DDL is
// transactional in both databases, so a crash leaves the previous version
// intact.
//
// A database at a version newer than this program knows is left as it is:
// a newer release migrated it, and migrations only add (tables, columns,
// indexes), so an older release rolled back to still runs on it.
func migrate(ctx context.Context, db *sql.DB, postgres bool) (version int, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() // after Commit, a no-op
	if postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, int32(migrateLockClass)); err != nil {
			return 0, fmt.Errorf("lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at BIGINT NOT NULL
		)`); err != nil {
		return 0, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return 0, err
	}
	for _, m := range migrations {
		if m.version <= version {
			continue
		}
		for _, stmt := range m.stmts(postgres) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return 0, fmt.Errorf("version %d (%s): %w", m.version, m.name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.version, m.name, time.Now().UnixMilli()); err != nil {
			return 0, err
		}
		version = m.version
	}
	return version, tx.Commit()
}

// serial is the type of a column numbering rows in insertion order.
func serial(postgres bool) string {
	if postgres {
		return "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
	}
	return "INTEGER PRIMARY KEY" // the rowid, growing with each insert
}

// schemaV1 is the schema from before versioning. Its statements keep IF
// NOT EXISTS so that a database created then adopts version 1 as it is.
// Timestamps are Unix milliseconds in a BIGINT, the same in both
// databases; only the column numbering rows in insertion order differs.
func schemaV1(postgres bool) []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS orders (
			seq         ` + serial(postgres) + `, -- orders the recent orders
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
			id         ` + serial(postgres) + `,
			topic      TEXT NOT NULL,
			msg_key    TEXT NOT NULL,
			payload    TEXT NOT NULL,
			created_at BIGINT NOT NULL,
			sent_at    BIGINT
		)`,
		`CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE sent_at IS NULL`,
	}
}

// schemaV2 adds the Idempotency-Key of POST /orders (see idempotency.go):
// the key, a hash of the request and the response to replay, written in
// the transaction that creates the order.
func schemaV2(bool) []string {
	return []string{
		`CREATE TABLE idempotency_keys (
			idem_key     TEXT PRIMARY KEY,
			request_hash TEXT NOT NULL,
			order_id     TEXT NOT NULL,
			status       INTEGER NOT NULL,
			location     TEXT NOT NULL,
			body         TEXT NOT NULL,
			created_at   BIGINT NOT NULL
		)`,
		`CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at)`,
	}
}

// schemaV3 adds the ticks of cron jobs claimed by a replica (see
// jobruns.go).
func schemaV3(bool) []string {
	return []string{
		`CREATE TABLE job_runs (
			job        TEXT NOT NULL,
			tick       BIGINT NOT NULL,
			replica    TEXT NOT NULL,
			claimed_at BIGINT NOT NULL,
			PRIMARY KEY (job, tick)
		)`,
	}
}

// schemaV4 adds when the reconcile job last re-drove an order (see
// reconcile.go), and the indexes of its query: orders by status and last
// change, and the unsent outbox rows by order.
func schemaV4(bool) []string {
	return []string{
		`ALTER TABLE orders ADD COLUMN redriven_at BIGINT`,
		`CREATE INDEX orders_by_status_change ON orders (status, updated_at)`,
		`CREATE INDEX outbox_pending_by_order ON outbox (msg_key) WHERE sent_at IS NULL`,
	}
}
