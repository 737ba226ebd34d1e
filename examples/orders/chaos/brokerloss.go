//go:build linux

package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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
	if !pause(ctx, l.d/3) {
		return ctx.Err()
	}
	// The loss only strands orders whose events were published but not
	// yet consumed, and a pipeline that keeps up leaves that window a few
	// milliseconds wide: a kill timed by chance missed it three times in
	// a row once the consumers applied a batch in one statement. So each
	// attempt, in the middle of a burst, holds the orders table locked
	// against writes (as a long migration or a vacuum full would): the
	// creates and the consumers wait, the relay goes on publishing what
	// was committed, and the kill comes once the database shows orders
	// whose events are all sent and not applied. The attempts go on
	// until the loss stranded some.
	var stranded, placed int
	for attempt := 1; stranded == 0 && attempt <= 3; attempt++ {
		burst := startBurst(ctx, r, 400, 16, 200)
		burst.waitPlaced()
		release, err := holdOrders(ctx, db, strandWait)
		if err != nil {
			e.r.failf("attempt %d: %v", attempt, err)
		}
		r.kill()
		if release != nil {
			release()
		}
		burst.stop()
		placed += int(burst.placed())
		if err := os.RemoveAll(filepath.Join(e.dir, "orders-kafka")); err != nil {
			return err
		}
		n, err := countStranded(ctx, db)
		if err != nil {
			return err
		}
		stranded += n
		if err := r.start(); err != nil {
			return err
		}
		if _, err := r.waitReady(ctx, readyTimeout); err != nil {
			e.r.failf("after the broker's data was deleted: %v", err)
			break
		}
	}
	if stranded == 0 {
		e.r.failf("three kills in a burst stranded no order: the scenario did not test reconciliation")
	}
	lr.wait(ctx, e.r)
	n, err := scrape(r.opsURL(), "orders_reconciled_total")
	if err != nil {
		e.r.failf("orders_reconciled_total: %v", err)
	}
	if n < float64(stranded) {
		e.r.failf("%d orders stranded by the loss, only %.0f re-driven by reconciliation", stranded, n)
	}
	e.r.note("broker data deleted at a kill -9 in a burst (%d burst orders placed): %d orders stranded, %.0f re-driven by reconciliation", placed, stranded, n)
	return nil
}

// strandWait bounds how long holdOrders waits for an order to strand.
const strandWait = 10 * time.Second

// holdOrders locks the orders table against writes (readers go on) and
// waits until countStranded finds an order whose events are all sent but
// not applied, or until within has passed; release ends the lock. An error
// comes with a release when the lock was taken.
func holdOrders(ctx context.Context, db database, within time.Duration) (release func(), err error) {
	sdb, err := openAudit(db.audit)
	if err != nil {
		return nil, err
	}
	tx, err := sdb.BeginTx(ctx, nil)
	if err != nil {
		sdb.Close()
		return nil, fmt.Errorf("lock the orders table: %w", err)
	}
	release = func() { tx.Rollback(); sdb.Close() }
	if _, err := tx.ExecContext(ctx, `LOCK TABLE orders IN EXCLUSIVE MODE`); err != nil {
		release()
		return nil, fmt.Errorf("lock the orders table: %w", err)
	}
	deadline := time.Now().Add(within)
	for {
		n, err := strandedIn(ctx, sdb)
		if err != nil || n > 0 {
			return release, err
		}
		if time.Now().After(deadline) {
			return release, fmt.Errorf("no order stranded within %v of locking the orders table", within)
		}
		if !pause(ctx, 10*time.Millisecond) {
			return release, ctx.Err()
		}
	}
}

// countStranded counts the orders in created or paid whose events are all
// marked sent: after the broker's data is lost, nothing but the
// reconciliation job moves them on.
func countStranded(ctx context.Context, db database) (int, error) {
	sdb, err := openAudit(db.audit)
	if err != nil {
		return 0, err
	}
	defer sdb.Close()
	return strandedIn(ctx, sdb)
}

// strandedIn is countStranded on an open database.
func strandedIn(ctx context.Context, sdb *sql.DB) (int, error) {
	var n int
	err := sdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders o WHERE o.status IN ('created', 'paid')
		AND NOT EXISTS (SELECT 1 FROM outbox x WHERE x.msg_key = o.id AND x.sent_at IS NULL)`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count the stranded orders: %w", err)
	}
	return n, nil
}

// openAudit opens a database as loadgen's -database-url names it.
func openAudit(url string) (*sql.DB, error) {
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		return sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	}
	return sql.Open("pgx", url)
}

// burst places orders from several clients as fast as the API takes them.
type burst struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	n       atomic.Int64
	reached chan struct{} // closed when want orders are placed
	want    int64
}

// startBurst places at most total orders with clients concurrent clients;
// waitPlaced waits for the first want of them.
func startBurst(ctx context.Context, r *replica, total, clients int, want int64) *burst {
	ctx, cancel := context.WithCancel(ctx)
	b := &burst{cancel: cancel, reached: make(chan struct{}), want: want}
	var next atomic.Int64
	client := &http.Client{Timeout: 10 * time.Second}
	for range clients {
		b.wg.Go(func() {
			for ctx.Err() == nil && next.Add(1) <= int64(total) {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.url()+"/orders",
					strings.NewReader(`{"customer":"chaos-burst","items":[{"sku":"MUG-3","qty":2,"price_cents":899}]}`))
				req.Header.Set("Content-Type", "application/json")
				if placeOrder(client, req) != "" {
					b.placedOne()
				}
			}
		})
	}
	return b
}

func (b *burst) placedOne() {
	if n := b.n.Add(1); n == b.want {
		close(b.reached)
	}
}

func (b *burst) placed() int64 { return b.n.Load() }

// waitPlaced waits until the orders wanted are placed, or the burst ends.
func (b *burst) waitPlaced() {
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-b.reached:
	case <-done:
	}
}

// stop ends the burst and waits for its clients.
func (b *burst) stop() {
	b.cancel()
	b.wg.Wait()
}
