// Command cronlock runs a flexcron scheduler whose jobs take a database
// lock first, so that several copies of it run each job once at a time.
// Start two in separate terminals and watch one of them skip each run:
//
//	go run ./cronlock
//
// Environment:
//
//	DATABASE_URL        PostgreSQL URL (advisory locks); unset: SQLite
//	CRONLOCK_SQLITE     SQLite file; default cronlock.db in os.TempDir()
//	CRONLOCK_SPEC       the job's schedule; default "@every 5s"
//	FLEX_CRON_TZ        time zone of the spec; FLEX_SHUTDOWN_TIMEOUT etc.
package main

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/go-flexible/flexible/examples/dblock"
	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexcron"
)

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err := run(context.Background()); err != nil {
		slog.Error("cronlock", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	locker, db, err := openLocker(ctx)
	if err != nil {
		return err
	}
	defer db.Close()

	s, err := flexcron.New(flexcron.WithLocker(locker))
	if err != nil {
		return err
	}
	spec := getenv("CRONLOCK_SPEC", "@every 5s")
	err = s.Add("report", spec, func(ctx context.Context) error {
		due, _ := flexcron.ScheduledTime(ctx)
		slog.InfoContext(ctx, "building the report", "pid", os.Getpid(), "due", due)
		select { // work that stops at a safe point when halted
		case <-time.After(3 * time.Second):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if err != nil {
		return err
	}
	return flex.Start(ctx, s)
}

func openLocker(ctx context.Context) (flexcron.Locker, *sql.DB, error) {
	if url := os.Getenv("DATABASE_URL"); url != "" {
		db, err := sql.Open("pgx", url)
		if err != nil {
			return nil, nil, err
		}
		return dblock.NewPostgres(db), db, nil
	}
	path := getenv("CRONLOCK_SQLITE", filepath.Join(os.TempDir(), "cronlock.db"))
	db, err := dblock.OpenSQLite(path)
	if err != nil {
		return nil, nil, err
	}
	l, err := dblock.NewSQLite(ctx, db, 0)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	slog.Info("cronlock: SQLite locks", "file", path)
	return l, db, nil
}

func getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
