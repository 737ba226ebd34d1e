package dblock

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/go-flexible/flexible/flexcron"
)

// unlockTimeout bounds the release of a lock, which runs after the job,
// possibly during shutdown.
const unlockTimeout = 5 * time.Second

// Postgres is a flexcron.Locker that takes a PostgreSQL session-level
// advisory lock per job, keyed by a 64-bit hash of "flexcron:" and the
// job's name. The lock lives on a connection taken from the pool for the
// whole run, so it is released when the run ends, or by the server when
// the replica dies and its connection drops.
//
// Each running job holds one pooled connection: size the pool (db's
// SetMaxOpenConns) for the jobs that may run at once plus the service's own
// queries.
type Postgres struct {
	db *sql.DB
}

// NewPostgres returns a Postgres locker on db, a pool opened with a
// PostgreSQL driver such as github.com/jackc/pgx/v5/stdlib ("pgx").
func NewPostgres(db *sql.DB) *Postgres { return &Postgres{db: db} }

// Lock takes the job's advisory lock without waiting. It returns an error
// wrapping flexcron.ErrLockHeld when another session holds it.
func (p *Postgres) Lock(ctx context.Context, job string) (func(), error) {
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("dblock: job %q: %w", job, err)
	}
	var ok bool
	err = conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtextextended('flexcron:' || $1, 0))`, job).Scan(&ok)
	if err != nil {
		discard(conn) // we cannot tell whether the lock was taken
		return nil, fmt.Errorf("dblock: job %q: try advisory lock: %w", job, err)
	}
	if !ok {
		_ = conn.Close()
		return nil, fmt.Errorf("dblock: job %q: %w", job, flexcron.ErrLockHeld)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
		defer cancel()
		var released bool
		err := conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock(hashtextextended('flexcron:' || $1, 0))`, job).Scan(&released)
		if err != nil || !released {
			discard(conn) // closing the session releases its locks
			return
		}
		_ = conn.Close()
	}, nil
}

// discard closes conn's underlying connection instead of returning it to
// the pool, so that no lock it may hold outlives it.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}
