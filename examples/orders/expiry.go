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
	jobPurgeKeys   = "purge-idempotency-keys"
	jobReconcile   = "reconcile-stuck-orders"
)

// outboxRetention is how long published outbox rows are kept, for
// inspection, before the purge job deletes them.
const outboxRetention = 24 * time.Hour

// newScheduler returns the cron scheduler of the system's periodic jobs:
// expiring the orders left unpaid for longer than cfg.PaymentTimeout, on
// cfg.ExpirySpec, re-driving the orders stuck in created or paid for
// longer than cfg.ReconcileAfter, on cfg.ReconcileSpec (see reconcile.go),
// and purging old outbox rows and expired Idempotency-Keys hourly. Every replica runs the scheduler. Each tick of a job runs on one
// replica only: the run claims the tick in job_runs (see oncePerTick), and
// a lock in the database keeps two runs of a job from overlapping (an
// advisory lock in PostgreSQL, a lease row in SQLite).
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
	sched, err := flexcron.New(flexcron.WithName("orders"), flexcron.WithLocker(locker), flexcron.WithLogger(log))
	if err != nil {
		return nil, err
	}
	if after := cfg.reconcileAfter(); after >= cfg.PaymentTimeout {
		// Legal, but a created order would reach the payment timeout before
		// it is stuck: the reconcile job would re-drive paid orders only.
		log.Warn("orders: "+envReconcileAfter+" is not shorter than "+envPaymentTimeout+
			": created orders whose event is lost expire instead of being re-driven",
			"reconcile_after", after, "payment_timeout", cfg.PaymentTimeout)
	}
	jobs := []cronJob{
		{jobExpire, cfg.ExpirySpec, expireUnpaid(s, cfg.PaymentTimeout, cfg.reconcileAfter(), log)},
		{jobReconcile, cfg.reconcileSpec(), reconcile(s, cfg.reconcileAfter(), cfg.PaymentTimeout, log)},
		{jobPurgeOutbox, "@hourly", purgeOutbox(s, log)},
		{jobPurgeKeys, "@hourly", purgeKeys(s, cfg.IdempotencyTTL, log)},
	}
	if err := addJobs(sched, s, log, jobs...); err != nil {
		return nil, err
	}
	return sched, nil
}

// cronJob is a job of the scheduler.
type cronJob struct {
	name, spec string
	fn         func(context.Context) error
}

// addJobs adds jobs to sched, each running once per tick across replicas
// (see oncePerTick).
func addJobs(sched *flexcron.Scheduler, s *store, log *slog.Logger, jobs ...cronJob) error {
	for _, j := range jobs {
		if err := sched.Add(j.name, j.spec, s.oncePerTick(j.name, j.spec, log, j.fn)); err != nil {
			return err
		}
	}
	return nil
}

// expireUnpaid returns the job that expires the orders created more than
// timeout ago and still unpaid, except those re-driven less than
// redriveAfter ago (the reconcile job's threshold): their payment is on its
// way again. Each expiry is a conditional UPDATE, like a payment, so an
// order paid at the same moment is either paid or expired, never both, and
// publishes orders.expired through the outbox.
func expireUnpaid(s *store, timeout, redriveAfter time.Duration, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		now := time.Now()
		ids, err := s.expireUnpaid(ctx, now.Add(-timeout), now.Add(-redriveAfter))
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

// purgeKeys returns the job that deletes the Idempotency-Keys recorded
// more than ttl ago (0 means defaultIdempotencyTTL).
func purgeKeys(s *store, ttl time.Duration, log *slog.Logger) func(context.Context) error {
	if ttl <= 0 {
		ttl = defaultIdempotencyTTL
	}
	return func(ctx context.Context) error {
		n, err := s.purgeKeys(ctx, time.Now().Add(-ttl))
		if n > 0 {
			log.Info("orders: purged expired idempotency keys", "count", n)
		}
		return err
	}
}
