package main

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/go-flexible/flexible/examples/dblock"
	"github.com/go-flexible/flexible/flexcron"
)

// Names of the cron jobs, in logs and in the lock table.
const (
	jobExpire      = "expire-unpaid-orders"
	jobPurgeOutbox = "purge-outbox"
)

// outboxRetention is how long published outbox rows are kept, for
// inspection, before the purge job deletes them.
const outboxRetention = 24 * time.Hour

// newScheduler returns the cron scheduler of the system's periodic jobs:
// expiring the orders left unpaid for longer than cfg.PaymentTimeout, on
// cfg.ExpirySpec, and purging old outbox rows hourly. Every replica runs
// the scheduler; a lock in the database makes each run happen on one
// replica only (an advisory lock in PostgreSQL, a lease row in SQLite).
func newScheduler(ctx context.Context, cfg config, db *sql.DB, postgres bool, s *store, log *slog.Logger) (*flexcron.Scheduler, error) {
	var locker flexcron.Locker
	if postgres {
		locker = dblock.NewPostgres(db)
	} else {
		l, err := dblock.NewSQLite(ctx, db, 0)
		if err != nil {
			return nil, err
		}
		locker = l
	}
	sched, err := flexcron.New(flexcron.WithLocker(locker), flexcron.WithLogger(log))
	if err != nil {
		return nil, err
	}
	if err := sched.Add(jobExpire, cfg.ExpirySpec, expireUnpaid(s, cfg.PaymentTimeout, log)); err != nil {
		return nil, err
	}
	if err := sched.Add(jobPurgeOutbox, "@hourly", purgeOutbox(s, log)); err != nil {
		return nil, err
	}
	return sched, nil
}

// expireUnpaid returns the job that expires the orders created more than
// timeout ago and still unpaid. Each expiry is a conditional UPDATE, like a
// payment, so an order paid at the same moment is either paid or expired,
// never both, and publishes orders.expired through the outbox.
func expireUnpaid(s *store, timeout time.Duration, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		ids, err := s.expireUnpaid(ctx, time.Now().Add(-timeout))
		if len(ids) > 0 {
			log.Info("orders: expired unpaid orders", "count", len(ids), "unpaid_for", timeout)
		}
		return err
	}
}

// purgeOutbox returns the job that deletes the outbox rows published more
// than outboxRetention ago.
func purgeOutbox(s *store, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		n, err := s.purgeSent(ctx, time.Now().Add(-outboxRetention))
		if n > 0 {
			log.Info("orders: purged published outbox rows", "count", n)
		}
		return err
	}
}
