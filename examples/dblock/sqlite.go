package dblock

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/go-flexible/flexible/flexcron"
)

// DefaultLease is how long an SQLite lock lasts without renewal.
const DefaultLease = 30 * time.Second

// SQLite is a flexcron.Locker backed by a row per held lock in the table
// flexcron_locks of an SQLite database shared by the replicas (processes on
// one host, or on a shared volume). A row names its owner and the time its
// lease expires; the holder renews the lease every third of it while the
// job runs, so a lock outlives a crashed holder by one lease at most.
type SQLite struct {
	db    *sql.DB
	lease time.Duration
}

// OpenSQLite opens the SQLite database file at path with the pure-Go
// modernc.org/sqlite driver, in WAL mode with a busy timeout so that
// several processes can share it.
func OpenSQLite(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, fmt.Errorf("dblock: open SQLite %q: %w", path, err)
	}
	return db, nil
}

// NewSQLite creates the lock table in db if needed and returns a locker
// whose leases last lease; zero means [DefaultLease].
func NewSQLite(ctx context.Context, db *sql.DB, lease time.Duration) (*SQLite, error) {
	if lease < 0 {
		return nil, fmt.Errorf("dblock: invalid SQLite lease %v: must not be negative", lease)
	}
	if lease == 0 {
		lease = DefaultLease
	}
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS flexcron_locks (
		job        TEXT PRIMARY KEY,
		owner      TEXT NOT NULL,
		expires_at INTEGER NOT NULL -- Unix milliseconds
	)`)
	if err != nil {
		return nil, fmt.Errorf("dblock: create SQLite lock table: %w", err)
	}
	return &SQLite{db: db, lease: lease}, nil
}

// Lock inserts the job's row, or takes it over when its lease has expired,
// without waiting. It returns an error wrapping flexcron.ErrLockHeld when
// another owner holds an unexpired lease.
func (s *SQLite) Lock(ctx context.Context, job string) (func(), error) {
	owner := rand.Text()
	now := time.Now()
	res, err := s.db.ExecContext(ctx, `INSERT INTO flexcron_locks (job, owner, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (job) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
		WHERE flexcron_locks.expires_at <= ?`,
		job, owner, now.Add(s.lease).UnixMilli(), now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("dblock: job %q: take SQLite lock: %w", job, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return nil, fmt.Errorf("dblock: job %q: %w", job, flexcron.ErrLockHeld)
	}

	stop, renewed := make(chan struct{}), make(chan struct{})
	go s.renew(job, owner, stop, renewed)
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-renewed
			ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
			defer cancel()
			// Only our own row: a lease that expired may belong to another owner now.
			_, _ = s.db.ExecContext(ctx, `DELETE FROM flexcron_locks WHERE job = ? AND owner = ?`, job, owner)
		})
	}, nil
}

// renew extends the lease every third of it until stop is closed.
func (s *SQLite) renew(job, owner string, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(s.lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), s.lease/3)
			_, _ = s.db.ExecContext(ctx, `UPDATE flexcron_locks SET expires_at = ? WHERE job = ? AND owner = ?`,
				time.Now().Add(s.lease).UnixMilli(), job, owner)
			cancel()
		}
	}
}
