package dblock_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-flexible/flexible/examples/dblock"
	"github.com/go-flexible/flexible/flexcron"
)

// openSQLite returns two lockers on the same SQLite file, each with its own
// connection pool, as two replicas would have.
func openSQLite(t *testing.T, lease time.Duration) (a, b *dblock.SQLite, db *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "locks.db")
	lockers := make([]*dblock.SQLite, 2)
	for i := range lockers {
		db = mustDB(t)(dblock.OpenSQLite(path))
		l, err := dblock.NewSQLite(context.Background(), db, lease)
		if err != nil {
			t.Fatal(err)
		}
		lockers[i] = l
	}
	return lockers[0], lockers[1], db
}

// openPostgres returns two lockers on DATABASE_URL, each with its own pool,
// and skips the test when DATABASE_URL is not set.
func openPostgres(t *testing.T) (a, b *dblock.Postgres) {
	t.Helper()
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		t.Skip("DATABASE_URL not set: PostgreSQL tests skipped")
	}
	lockers := make([]*dblock.Postgres, 2)
	for i := range lockers {
		db := mustDB(t)(sql.Open("pgx", url))
		if err := db.PingContext(context.Background()); err != nil {
			t.Fatalf("DATABASE_URL is set but PostgreSQL is unreachable: %v", err)
		}
		lockers[i] = dblock.NewPostgres(db)
	}
	return lockers[0], lockers[1]
}

// mustDB returns a function that fails the test on an error from sql.Open
// or OpenSQLite and closes the database when the test ends.
func mustDB(t *testing.T) func(*sql.DB, error) *sql.DB {
	return func(db *sql.DB, err error) *sql.DB {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
}

// jobName is unique per test run, so that runs sharing a database do not
// see each other's locks.
func jobName(t *testing.T) string { return t.Name() + "-" + rand.Text() }

func TestSQLiteLocker(t *testing.T) {
	a, b, _ := openSQLite(t, 0)
	testLocker(t, a, b)
}

func TestPostgresLocker(t *testing.T) {
	a, b := openPostgres(t)
	testLocker(t, a, b)
}

func TestSQLiteSchedulers(t *testing.T) {
	a, b, _ := openSQLite(t, 0)
	testSchedulers(t, a, b)
}

func TestPostgresSchedulers(t *testing.T) {
	a, b := openPostgres(t)
	testSchedulers(t, a, b)
}

// testLocker checks a pair of lockers on one database: the second is refused
// while the first holds a job's lock, and gets it once the first unlocks.
func testLocker(t *testing.T, a, b flexcron.Locker) {
	ctx := context.Background()
	job, other := jobName(t), jobName(t)

	unlockA, err := a.Lock(ctx, job)
	if err != nil {
		t.Fatalf("a.Lock: %v", err)
	}
	if _, err := b.Lock(ctx, job); !errors.Is(err, flexcron.ErrLockHeld) {
		t.Fatalf("b.Lock while a holds it = %v, want ErrLockHeld", err)
	}
	if _, err := a.Lock(ctx, job); !errors.Is(err, flexcron.ErrLockHeld) {
		t.Errorf("a.Lock again while a holds it = %v, want ErrLockHeld (not reentrant)", err)
	}
	unlockOther, err := b.Lock(ctx, other)
	if err != nil {
		t.Fatalf("b.Lock of another job: %v", err)
	}
	unlockOther()

	unlockA()
	unlockB, err := b.Lock(ctx, job)
	if err != nil {
		t.Fatalf("b.Lock after a unlocked = %v, want the lock", err)
	}
	if _, err := a.Lock(ctx, job); !errors.Is(err, flexcron.ErrLockHeld) {
		t.Errorf("a.Lock while b holds it = %v, want ErrLockHeld", err)
	}
	unlockB()

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.Lock(cancelled, jobName(t)); err == nil || errors.Is(err, flexcron.ErrLockHeld) {
		t.Errorf("Lock with a cancelled context = %v, want an error other than ErrLockHeld", err)
	}
}

// testSchedulers runs the same job on two schedulers standing for two
// replicas: while one run holds the lock, the other replica's run is skipped.
func testSchedulers(t *testing.T, la, lb flexcron.Locker) {
	job := jobName(t)
	started, release := make(chan struct{}), make(chan struct{})
	var runsB atomic.Int32
	quiet := flexcron.WithLogger(slog.New(slog.DiscardHandler))
	a, err := flexcron.New(quiet, flexcron.WithLocker(la))
	if err != nil {
		t.Fatal(err)
	}
	b, err := flexcron.New(quiet, flexcron.WithLocker(lb))
	if err != nil {
		t.Fatal(err)
	}
	never := "0 0 1 1 *"
	if err := a.Add(job, never, func(context.Context) error { close(started); <-release; return nil }); err != nil {
		t.Fatal(err)
	}
	bRan := make(chan struct{}, 1)
	if err := b.Add(job, never, func(context.Context) error { runsB.Add(1); bRan <- struct{}{}; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*flexcron.Scheduler{a, b} {
		go s.Run(context.Background())
		<-s.Ready()
	}
	if err := a.Trigger(job); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := b.Trigger(job); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return b.Stats()[0].LockHeld == 1 })
	if n := runsB.Load(); n != 0 {
		t.Errorf("b ran %d times while a held the lock", n)
	}

	close(release)
	halt(t, a) // waits for a's run, which unlocks
	if err := b.Trigger(job); err != nil {
		t.Fatal(err)
	}
	select {
	case <-bRan:
	case <-time.After(10 * time.Second):
		t.Fatalf("b did not run after a released the lock: %+v", b.Stats())
	}
	halt(t, b)
}

func halt(t *testing.T, s *flexcron.Scheduler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Halt(ctx); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond, which observes another goroutine's database work,
// until it holds; it fails the test after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSQLiteExpiredLeaseIsTakenOver(t *testing.T) {
	a, b, db := openSQLite(t, time.Hour)
	ctx := context.Background()
	job := jobName(t)
	unlockA, err := a.Lock(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	// a's process "crashed" an hour ago: its lease has expired.
	if _, err := db.ExecContext(ctx, `UPDATE flexcron_locks SET expires_at = 0 WHERE job = ?`, job); err != nil {
		t.Fatal(err)
	}
	unlockB, err := b.Lock(ctx, job)
	if err != nil {
		t.Fatalf("b.Lock of an expired lease = %v, want the lock", err)
	}
	unlockA() // a late unlock must not release b's lock
	if _, err := a.Lock(ctx, job); !errors.Is(err, flexcron.ErrLockHeld) {
		t.Errorf("a.Lock after a's stale unlock = %v, want ErrLockHeld: b still holds it", err)
	}
	unlockB()
}

func TestSQLiteLeaseIsRenewed(t *testing.T) {
	a, _, db := openSQLite(t, 300*time.Millisecond)
	ctx := context.Background()
	job := jobName(t)
	unlock, err := a.Lock(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	expiry := func() (ms int64) {
		if err := db.QueryRowContext(ctx, `SELECT expires_at FROM flexcron_locks WHERE job = ?`, job).Scan(&ms); err != nil {
			t.Fatal(err)
		}
		return ms
	}
	first := expiry()
	waitFor(t, func() bool { return expiry() > first })
}

func TestSQLiteInvalidLease(t *testing.T) {
	db := mustDB(t)(dblock.OpenSQLite(filepath.Join(t.TempDir(), "x.db")))
	if _, err := dblock.NewSQLite(context.Background(), db, -time.Second); err == nil {
		t.Error("NewSQLite with a negative lease: no error")
	}
}
