//go:build linux

package main

import (
	"context"
	"os"
	"path/filepath"
	"time"
)

// brokerLoss kills the order system under load and deletes its embedded
// broker's data before the restart, as when $TMPDIR is cleaned. Events the
// outbox had marked sent are gone; the reconciliation job must re-drive
// the orders they leave stranded, so that the audit finds every one final.
// The threshold is short here (3 s, checked every second) so that the
// scenario does not wait the default 5 minutes.
func brokerLoss(ctx context.Context, e *scenarioEnv, db database) error {
	r, err := e.startReplica(ctx, "orders", db, "ORDERS_RECONCILE_AFTER=3s", "ORDERS_RECONCILE_SPEC=@every 1s")
	if err != nil {
		return err
	}
	l := e.load(e.scaled(24*time.Second, 14*time.Second))
	lr, err := e.startLoad("load", r.url(), db, l)
	if err != nil {
		return err
	}
	if !pause(ctx, l.d/2) {
		return ctx.Err()
	}
	r.kill()
	if err := os.RemoveAll(filepath.Join(e.dir, "orders-kafka")); err != nil {
		return err
	}
	if err := r.start(); err != nil {
		return err
	}
	if _, err := r.waitReady(ctx, readyTimeout); err != nil {
		e.r.failf("after the broker's data was deleted: %v", err)
	}
	lr.wait(ctx, e.r)
	n, err := scrape(r.opsURL(), "orders_reconciled_total")
	if err != nil {
		e.r.failf("orders_reconciled_total: %v", err)
	}
	e.r.note("broker data deleted at a kill -9; %.0f orders re-driven by reconciliation", n)
	return nil
}
