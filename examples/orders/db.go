package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"modernc.org/sqlite"               // the "sqlite" database/sql driver, pure Go
	sqlite3 "modernc.org/sqlite/lib"
)

// openDB opens PostgreSQL when cfg.DatabaseURL is set, else the SQLite file
// cfg.SQLitePath, checks that it answers and migrates its schema to the
// current version (see migrate), which is safe when several replicas start
// at once. Its pool has cfg.DBMaxConns connections at most (see pools.go).
// It reports whether the database is PostgreSQL: the SQL is the
// same for both but for one column type, and the cron lock differs.
func openDB(ctx context.Context, cfg config) (db *sql.DB, postgres bool, err error) {
	db, postgres, err = dialDB(cfg)
	if err != nil {
		return nil, false, err
	}
	limitPool(db, cfg.DBMaxConns, defaultDBMaxConns)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := retryBusy(pingCtx, postgres, func() error { return db.PingContext(pingCtx) }); err != nil {
		db.Close()
		return nil, false, fmt.Errorf("orders: %s: %w", describeDB(cfg), err)
	}
	if err := retryBusy(pingCtx, postgres, func() error { _, err := migrate(ctx, db, postgres); return err }); err != nil {
		db.Close()
		return nil, false, fmt.Errorf("orders: migrate the schema of %s: %w", describeDB(cfg), err)
	}
	return db, postgres, nil
}

// retryBusy calls fn until it returns anything but SQLITE_BUSY, or ctx is
// done. Replicas opening one new SQLite file together race to switch it to
// WAL, and SQLite answers the losers SQLITE_BUSY at once, without waiting
// for busy_timeout; a new connection a moment later finds WAL set.
func retryBusy(ctx context.Context, postgres bool, fn func() error) error {
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := fn()
		var sqliteErr *sqlite.Error
		if postgres || !errors.As(err, &sqliteErr) || sqliteErr.Code()&0xff != sqlite3.SQLITE_BUSY {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// defaultSQLiteBusyTimeout is how long an SQLite writer waits for the
// write lock, unless config.SQLiteBusyTimeout says otherwise.
const defaultSQLiteBusyTimeout = 10 * time.Second

// dialDB returns the database of cfg, unchecked and unmigrated: sql.Open
// connects lazily.
func dialDB(cfg config) (db *sql.DB, postgres bool, err error) {
	if cfg.DatabaseURL != "" {
		db, err = sql.Open("pgx", cfg.DatabaseURL)
		postgres = true
	} else {
		// WAL lets readers run beside the writer; busy_timeout makes a
		// writer wait for another instead of failing (the wait ignores
		// contexts: past it, SQLITE_BUSY answers 503); BEGIN IMMEDIATE
		// takes the write lock when a transaction starts, so that a
		// transaction that reads, then writes, never fails to upgrade its
		// lock.
		busy := cfg.SQLiteBusyTimeout
		if busy <= 0 {
			busy = defaultSQLiteBusyTimeout
		}
		db, err = sql.Open("sqlite", fmt.Sprintf("file:%s?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)"+
			"&_pragma=foreign_keys(1)&_txlock=immediate", cfg.SQLitePath, busy.Milliseconds()))
	}
	if err != nil {
		return nil, false, fmt.Errorf("orders: open database: %w", err)
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
