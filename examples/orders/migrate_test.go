package main

import (
	"context"
	"database/sql"
	"sync"
	"testing"
)

// TestMigrateConcurrently starts five replicas at once on an empty
// database: every openDB succeeds and each version is applied once.
// Without the lock, PostgreSQL fails the CREATE TABLE IF NOT EXISTS race
// with a duplicate key on pg_type, and versions are recorded twice.
func TestMigrateConcurrently(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		const replicas = 5
		var wg sync.WaitGroup
		errs := make([]error, replicas)
		dbs := make([]*sql.DB, replicas)
		start := make(chan struct{})
		for i := range replicas {
			wg.Go(func() {
				<-start
				dbs[i], _, errs[i] = openDB(context.Background(), cfg)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("replica %d: openDB: %v", i, err)
				continue
			}
			dbs[i].Close()
		}
		db := openTestDB(t, cfg)
		checkVersions(t, db)
		// The schema works: an order can be stored.
		s := &store{db: db}
		if _, err := s.createOrder(t.Context(), anOrder("after-migration")); err != nil {
			t.Fatal(err)
		}
	})
}

// TestMigrateAdoptsUnversionedSchema opens a database created before
// versioning, whose tables exist without schema_migrations: it becomes
// version 1, then the later versions are applied, and its orders are kept.
func TestMigrateAdoptsUnversionedSchema(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		postgres := cfg.DatabaseURL != ""
		old := rawDB(t, cfg)
		for _, stmt := range schemaV1(postgres) {
			if _, err := old.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := old.Exec(`INSERT INTO orders (id, customer, status, total_cents, created_at, updated_at)
			VALUES ('ord_old', 'old', 'created', 1, 0, 0)`); err != nil {
			t.Fatal(err)
		}
		db := openTestDB(t, cfg)
		checkVersions(t, db)
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM orders WHERE id = 'ord_old'`).Scan(&n); err != nil || n != 1 {
			t.Errorf("order created before versioning: %d rows (%v), want 1", n, err)
		}
		// Opening again changes nothing.
		db2 := openTestDB(t, cfg)
		checkVersions(t, db2)
	})
}

// checkVersions checks that every version is recorded once, in order.
func checkVersions(t *testing.T, db *sql.DB) {
	t.Helper()
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if len(got) != len(migrations) {
		t.Fatalf("schema_migrations = %v, want versions 1 to %d once each", got, len(migrations))
	}
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("schema_migrations = %v, want versions 1 to %d once each", got, len(migrations))
		}
	}
}

// rawDB opens the database of cfg without migrating it.
func rawDB(t *testing.T, cfg config) *sql.DB {
	t.Helper()
	db, _, err := dialDB(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
