package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Defaults of ORDERS_RECONCILE_AFTER and ORDERS_RECONCILE_SPEC, also used
// when a config built in code leaves them zero.
const (
	defaultReconcileAfter = 5 * time.Minute
	defaultReconcileSpec  = "@every 1m"
)

// A reconcile run re-drives at most reconcileBatches transactions of
// reconcileBatch orders each, oldest first: a backlog (thousands of orders
// stranded by a lost broker) is worked off over a few runs, without one
// long transaction holding SQLite's write lock or flooding the outbox.
const (
	reconcileBatch   = 100
	reconcileBatches = 5
)

// reconcileAfter returns how long an order may sit in created or paid
// before the reconcile job re-drives it: cfg.ReconcileAfter, or the
// default when zero.
func (cfg config) reconcileAfter() time.Duration {
	if cfg.ReconcileAfter <= 0 {
		return defaultReconcileAfter
	}
	return cfg.ReconcileAfter
}

// reconcileSpec returns the cron spec of the reconcile job:
// cfg.ReconcileSpec, or the default when empty.
func (cfg config) reconcileSpec() string {
	if cfg.ReconcileSpec == "" {
		return defaultReconcileSpec
	}
	return cfg.ReconcileSpec
}

// redriveCounts counts the orders re-driven by this process, by the status
// whose event was published again, for the metrics
// (orders_reconciled_total). Safe for concurrent use.
type redriveCounts struct {
	created, paid atomic.Uint64
}

func (c *redriveCounts) add(s status) {
	switch s {
	case statusCreated:
		c.created.Add(1)
	case statusPaid:
		c.paid.Add(1)
	}
}

// reconcile returns the job that re-drives stuck orders: the orders in
// created or paid, the states that wait for an event, whose status has not
// changed for longer than after. Their event was written to the outbox and
// published, and then lost (the broker's data was deleted after a crash,
// say), or is not handled for some other reason: nothing would ever move
// them on. The job writes the event of the order's current status
// (orders.created, orders.paid) to the outbox again, and the relay
// publishes it. That is safe because the consumers are idempotent: an
// order that was only slow moves on once, and the second event finds it
// moved on and changes nothing.
//
// An order is re-driven at most once per after (see redriveStuck), so an
// order that stays stuck is re-driven every after, not at every run. A
// created order that reached the payment timeout is left to the expiry
// job, which waits after from its last re-drive (see store.expireUnpaid):
// expiry never beats a re-driven payment.
//
// The job logs one line per run that re-drove anything, with the counts.
func reconcile(s *store, after, paymentTimeout time.Duration, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		var created, paid int
		var err error
		for range reconcileBatches {
			var events []event
			events, err = s.redriveStuck(ctx, time.Now(), after, paymentTimeout, reconcileBatch)
			for _, ev := range events {
				if ev.Status == statusCreated {
					created++
				} else {
					paid++
				}
			}
			if err != nil || len(events) < reconcileBatch {
				break
			}
		}
		if created+paid > 0 {
			log.Warn("orders: re-drove orders stuck in created or paid", "count", created+paid,
				"created", created, "paid", paid, "stuck_for", after)
		}
		return err
	}
}

// stuckOrders is the condition, in SQL, of an order that redriveStuck
// re-drives, with the parameters $2 'created', $3 'paid', $4 the time
// before which the order's last change and last re-drive must be, $5 the
// time after which a created order must have been created (the payment
// timeout: older ones are the expiry job's).
const stuckOrders = `status IN ($2, $3) AND updated_at < $4
	AND (redriven_at IS NULL OR redriven_at < $4)
	AND (status = $3 OR created_at >= $5)`

// redriveStuck re-drives up to limit stuck orders as of now, oldest change
// first, in one transaction: it records now as their redriven_at and
// writes the event of their current status to the outbox. It returns the
// events written, and counts them in s.redriven.
//
// An order is stuck when it has been in created or paid for longer than
// after, was not re-driven within after, and has no event waiting in the
// outbox (an unsent event is not lost, only not yet published: during a
// broker outage re-driving would only lengthen the backlog). A created
// order created more than paymentTimeout ago is not re-driven: it is the
// expiry job's.
//
// The UPDATE checks the condition again on the row it changes, so an
// order that a consumer moves on meanwhile is left alone (PostgreSQL
// re-evaluates it on the new version of the row; SQLite writes one at a
// time).
func (s *store) redriveStuck(ctx context.Context, now time.Time, after, paymentTimeout time.Duration, limit int) ([]event, error) {
	now = now.UTC().Truncate(time.Millisecond)
	var events []event
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE orders SET redriven_at = $1
			WHERE seq IN (
				SELECT seq FROM orders o WHERE `+stuckOrders+`
					AND NOT EXISTS (SELECT 1 FROM outbox b WHERE b.msg_key = o.id AND b.sent_at IS NULL)
				ORDER BY updated_at, seq LIMIT $6)
			AND `+stuckOrders+`
			RETURNING id, status, customer, total_cents`,
			now.UnixMilli(), statusCreated, statusPaid, now.Add(-after).UnixMilli(),
			now.Add(-paymentTimeout).UnixMilli(), limit)
		if err != nil {
			return err
		}
		events = events[:0]
		for rows.Next() {
			ev := event{Time: now}
			if err := rows.Scan(&ev.OrderID, &ev.Status, &ev.Customer, &ev.TotalCents); err != nil {
				rows.Close()
				return err
			}
			events = append(events, ev)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, ev := range events {
			if err := s.enqueue(ctx, tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("orders: re-drive stuck orders: %w", err)
	}
	for _, ev := range events {
		s.redriven.add(ev.Status)
	}
	if len(events) > 0 {
		s.outboxWritten.ring()
	}
	return events, nil
}
