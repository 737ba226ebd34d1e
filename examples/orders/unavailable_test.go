package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDBUnavailable classifies real errors, each produced by a real
// database call: those of a database that cannot be reached or cannot take
// work now are unavailable, those of the request are not.
func TestDBUnavailable(t *testing.T) {
	type errCase struct {
		name string
		err  func(t *testing.T) error
		want bool
	}
	cases := []errCase{
		{"nil", func(*testing.T) error { return nil }, false},
		{"no rows", func(t *testing.T) error {
			return testStore(t).db.QueryRow(`SELECT id FROM orders WHERE id = 'none'`).Scan(new(string))
		}, false},
		{"not found", func(t *testing.T) error {
			_, err := testStore(t).getOrder(t.Context(), "ord_none")
			return err
		}, false},
		{"sqlite constraint", func(t *testing.T) error {
			_, err := testStore(t).db.Exec(`INSERT INTO orders (id) VALUES (NULL)`)
			return err
		}, false},
		{"sqlite syntax", func(t *testing.T) error {
			_, err := testStore(t).db.Exec(`SELEC 1`)
			return err
		}, false},
		{"sqlite busy", sqliteBusy, true},
		{"sqlite locked beyond busy_timeout", func(t *testing.T) error {
			return sqliteLockedFor(t, 50*time.Millisecond)
		}, true},
		{"sqlite cannot open", func(t *testing.T) error {
			cfg := testConfig(t)
			cfg.SQLitePath = filepath.Join(t.TempDir(), "no", "such", "dir.db")
			_, _, err := openDB(t.Context(), cfg)
			return err
		}, true},
		{"request cancelled", func(t *testing.T) error {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			_, err := testStore(t).getOrder(ctx, "ord_none")
			return err
		}, false},
		{"postgres closed port", func(t *testing.T) error {
			cfg := testConfig(t)
			cfg.DatabaseURL = "postgres://postgres@" + closedAddr(t) + "/postgres?sslmode=disable&connect_timeout=5"
			_, _, err := openDB(t.Context(), cfg)
			return err
		}, true},
	}
	if os.Getenv(envDatabaseURL) != "" {
		shared := postgresDB(t) // for the cases that leave it usable
		postgresDB := func(*testing.T) *sql.DB { return shared }
		cases = append(cases,
			errCase{"postgres unique violation", func(t *testing.T) error {
				db := postgresDB(t)
				_, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'again', 0)`)
				return err
			}, false},
			errCase{"postgres NUL byte", func(t *testing.T) error {
				_, err := postgresDB(t).Exec(`SELECT $1::text`, "a\x00b")
				return err
			}, false},
			errCase{"postgres syntax", func(t *testing.T) error {
				_, err := postgresDB(t).Exec(`SELEC 1`)
				return err
			}, false},
			errCase{"postgres deadline", func(t *testing.T) error {
				ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
				defer cancel()
				_, err := postgresDB(t).ExecContext(ctx, `SELECT pg_sleep(10)`)
				return err
			}, true},
			errCase{"postgres backend terminated", func(t *testing.T) error {
				db := postgresDB(t)
				conn, err := db.Conn(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				var pid int
				if err := conn.QueryRowContext(t.Context(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(`SELECT pg_terminate_backend($1)`, pid); err != nil {
					t.Fatal(err)
				}
				_, err = conn.ExecContext(t.Context(), `SELECT 1`)
				return err
			}, true},
			errCase{"postgres connection cut", func(t *testing.T) error {
				db, p := proxiedPostgres(t)
				conn, err := db.Conn(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				p.cut()
				_, err = conn.ExecContext(t.Context(), `SELECT 1`)
				return err
			}, true},
			errCase{"postgres transaction cut", func(t *testing.T) error {
				db, p := proxiedPostgres(t)
				tx, err := db.Begin()
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				p.cut()
				if _, err := tx.Exec(`SELECT 1`); !dbUnavailable(err) {
					t.Errorf("first statement after the cut: dbUnavailable(%v) = false, want true", err)
				}
				_, err = tx.Exec(`SELECT 2`)
				return err
			}, true},
			errCase{"postgres proxy refuses", func(t *testing.T) error {
				db, p := proxiedPostgres(t)
				p.cut()
				_, err := db.Exec(`SELECT 1`)
				return err
			}, true},
		)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.err(t)
			if got := dbUnavailable(err); got != c.want {
				t.Errorf("dbUnavailable(%v) = %v, want %v", err, got, c.want)
			}
			wrapped := fmt.Errorf("orders: something: %w", err)
			if got := dbUnavailable(wrapped); err != nil && got != c.want {
				t.Errorf("dbUnavailable(%v) = %v, want %v when wrapped", wrapped, got, c.want)
			}
			t.Logf("%T: %v", err, err)
		})
	}
}

// sqliteBusy returns the error of a write to an SQLite file whose write
// lock another connection holds, with no busy_timeout to wait in.
func sqliteBusy(t *testing.T) error {
	cfg := testConfig(t)
	openTestDB(t, cfg) // creates the schema
	release := holdSQLiteWriteLock(t, cfg.SQLitePath)
	defer release()
	db, err := sql.Open("sqlite", "file:"+cfg.SQLitePath+"?_pragma=busy_timeout(0)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec(`DELETE FROM outbox`)
	return err
}

// sqliteLockedFor returns the error of a write, by the system's store
// waiting busy for at most d, to an SQLite file whose write lock another
// connection holds.
func sqliteLockedFor(t *testing.T, d time.Duration) error {
	cfg := testConfig(t)
	cfg.SQLiteBusyTimeout = d
	s := &store{db: openTestDB(t, cfg)}
	release := holdSQLiteWriteLock(t, cfg.SQLitePath)
	defer release()
	_, err := s.createOrder(t.Context(), anOrder("blocked"))
	return err
}

// holdSQLiteWriteLock takes the write lock of the SQLite file at path on a
// connection of its own, as another process would, until release.
func holdSQLiteWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return func() {
		tx.Rollback()
		db.Close()
	}
}

// proxiedPostgres returns a migrated database in a schema of its own on
// DATABASE_URL, reached through a proxy.
func proxiedPostgres(t *testing.T) (*sql.DB, *tcpProxy) {
	p := newTCPProxy(t, postgresAddr(t))
	cfg := testConfig(t)
	testPostgres(t, &cfg)
	cfg.DatabaseURL = p.rewrite(t, cfg.DatabaseURL)
	return openTestDB(t, cfg), p
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// postgresDB returns the migrated database of a schema of its own on
// DATABASE_URL.
func postgresDB(t *testing.T) *sql.DB {
	t.Helper()
	cfg := testConfig(t)
	testPostgres(t, &cfg)
	return openTestDB(t, cfg)
}
