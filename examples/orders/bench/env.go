package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver
)

// env is one run of the harness: its work directory, the binaries it
// built and the PostgreSQL databases it created.
type env struct {
	cfg            config
	dir            string
	orders, loadgn string   // binaries
	created        []string // PostgreSQL databases to drop
	seq            int
}

// newEnv builds the order system and the load generator into a work
// directory. It runs from the examples module's folder, as go run
// ./orders/bench does.
func newEnv(ctx context.Context, cfg config) (*env, error) {
	dir := cfg.work
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "flexbench-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, dir: dir, orders: filepath.Join(dir, "orders"), loadgn: filepath.Join(dir, "loadgen")}
	builds := map[string]string{e.orders: "./orders", e.loadgn: "./orders/loadgen"}
	if cfg.orders != "" {
		delete(builds, e.orders)
		e.orders = cfg.orders
	}
	for bin, pkg := range builds {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			e.close()
			return nil, fmt.Errorf("bench: go build %s (run from the examples folder): %v\n%s", pkg, err, out)
		}
	}
	fmt.Fprintf(os.Stderr, "bench: work directory %s\n", dir)
	return e, nil
}

// close drops the databases created and removes the work directory,
// unless -keep.
func (e *env) close() {
	if e.cfg.keep {
		fmt.Fprintf(os.Stderr, "bench: kept %s and databases %v\n", e.dir, e.created)
		return
	}
	if len(e.created) > 0 {
		if db, err := sql.Open("pgx", e.cfg.databaseURL); err == nil {
			for _, name := range e.created {
				if _, err := db.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
					fmt.Fprintf(os.Stderr, "bench: drop database %s: %v\n", name, err)
				}
			}
			db.Close()
		}
	}
	if e.cfg.work == "" {
		os.RemoveAll(e.dir)
	}
}

// database is a fresh database of one kind: what the order system is
// given in its environment, and how the harness opens it.
type database struct {
	kind   string // "sqlite", "postgres"
	envVar string // DATABASE_URL=… or ORDERS_SQLITE_PATH=…
	driver string
	dsn    string
	url    string // PostgreSQL: the URL, for pgbench
}

// freshDB returns a new, empty database of kind.
func (e *env) freshDB(ctx context.Context, kind string) (database, error) {
	e.seq++
	if kind == "sqlite" {
		path := filepath.Join(e.dir, fmt.Sprintf("orders-%d.db", e.seq))
		return database{kind: kind, envVar: "ORDERS_SQLITE_PATH=" + path, driver: "sqlite", dsn: sqliteDSN(path)}, nil
	}
	name := fmt.Sprintf("orders_bench_%s_%d", strings.ToLower(rand.Text()[:6]), e.seq)
	admin, err := sql.Open("pgx", e.cfg.databaseURL)
	if err != nil {
		return database{}, err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return database{}, fmt.Errorf("create database %s: %w", name, err)
	}
	e.created = append(e.created, name)
	u, err := url.Parse(e.cfg.databaseURL)
	if err != nil {
		return database{}, fmt.Errorf("invalid DATABASE_URL: %w", err)
	}
	u.Path = "/" + name
	return database{kind: kind, envVar: "DATABASE_URL=" + u.String(), driver: "pgx", dsn: u.String(), url: u.String()}, nil
}

// seededDB returns a fresh database of kind, migrated by the order system
// (started on it and stopped), holding e.cfg.seed orders of the past,
// shipped, each with an item and its three events sent, and analyzed: a
// database as it is once in service. An empty one measures the first
// minute of a new system instead, whose statistics say that the tables are
// empty, so that PostgreSQL plans the statements it prepares then for
// empty tables and keeps those plans until autovacuum's first ANALYZE
// (see applyOrdersPG). pgbench -i, likewise, analyzes the tables it fills.
func (e *env) seededDB(ctx context.Context, kind string) (database, error) {
	db, err := e.freshDB(ctx, kind)
	if err != nil {
		return db, err
	}
	s, err := e.startService(ctx, db)
	if err != nil {
		return db, err
	}
	if err := s.stop(); err != nil {
		return db, fmt.Errorf("stop after migrating: %w", err)
	}
	if err := seed(ctx, db, e.cfg.seed); err != nil {
		return db, fmt.Errorf("seed %d orders: %w", e.cfg.seed, err)
	}
	return db, nil
}

// seed writes n shipped orders of a day ago, before any the measurements
// count (they count orders created since they began), and analyzes the
// database.
func seed(ctx context.Context, db database, n int) error {
	pool, err := db.open()
	if err != nil {
		return err
	}
	defer pool.Close()
	dayAgo := time.Now().Add(-24 * time.Hour).UnixMilli()
	stmts := []string{
		`WITH RECURSIVE g (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $1)
		INSERT INTO orders (id, customer, status, total_cents, created_at, updated_at)
		SELECT 'ord_seed' || n, 'seed', 'shipped', 1250, $2, $2 FROM g`,
		`INSERT INTO order_items (order_id, line, sku, qty, price_cents)
		SELECT id, 1, 'BOOK-1', 1, 1250 FROM orders WHERE customer = 'seed'`,
		`INSERT INTO outbox (topic, msg_key, payload, created_at, sent_at)
		SELECT t.topic, o.id, '{}', o.created_at, o.created_at
		FROM orders o, (SELECT 'orders.created' AS topic UNION ALL SELECT 'orders.paid' UNION ALL SELECT 'orders.shipped') t
		WHERE o.customer = 'seed'`,
	}
	if n > 0 {
		for i, stmt := range stmts {
			args := []any{}
			if i == 0 {
				args = []any{n, dayAgo}
			}
			if _, err := pool.ExecContext(ctx, stmt, args...); err != nil {
				return err
			}
		}
	}
	analyze := "ANALYZE"
	if db.kind == "postgres" {
		analyze = "VACUUM ANALYZE"
	}
	_, err = pool.ExecContext(ctx, analyze)
	return err
}

// sqliteDSN opens the file as the order system does (see db.go).
func sqliteDSN(path string) string {
	return fmt.Sprintf("file:%s?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate", path)
}

// open opens db for the harness's own queries.
func (db database) open() (*sql.DB, error) {
	return sql.Open(db.driver, db.dsn)
}

// waitFor polls cond every 10 ms until it holds or d has passed.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
