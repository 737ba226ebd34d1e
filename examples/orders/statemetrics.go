package main

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The gauges of what only the database knows: how many orders are in each
// status, and how many outbox rows wait for Kafka and since when. The
// counters of collector (metrics.go) say what this replica did; these say
// where every order is, whoever wrote it, so that each replica reports the
// same values: aggregate them with max, not sum.
var (
	descOrdersByStatus = prometheus.NewDesc("orders_by_status",
		"Orders in the database by status, as of the last count (see ORDERS_DB_METRICS_INTERVAL).", []string{"status"}, nil)
	descOutboxPending = prometheus.NewDesc("orders_outbox_pending",
		"Outbox rows not yet published to Kafka, as of the last count.", nil, nil)
	descOutboxOldest = prometheus.NewDesc("orders_outbox_oldest_pending_age_seconds",
		"Age of the oldest outbox row not yet published, at this scrape; 0 when none waits.", nil, nil)
	descDBGaugeErrors = prometheus.NewDesc("orders_db_metrics_errors_total",
		"Counts of orders and outbox rows that failed (the gauges are left out of that scrape).", nil, nil)
)

// allStatuses are the statuses orders_by_status always reports, 0 when no
// order has one, so that a dashboard shows a line at zero, not a gap.
var allStatuses = []status{statusCreated, statusPaid, statusShipped, statusCancelled, statusExpired}

// countQueries are the two counts, each served by an index: orders_by_status
// on (status, created_at) and outbox_pending on the unsent rows.
const (
	countByStatusQuery = `SELECT status, count(*) FROM orders GROUP BY status`
	countPendingQuery  = `SELECT count(*), coalesce(min(created_at), 0) FROM outbox WHERE sent_at IS NULL`
)

// dbGauges is the prometheus.Collector of those gauges. Counting every
// order costs a scan of an index, so a scrape counts again only when the
// last count is older than every; scrapes in between, from any number of
// Prometheus servers, get the same counts. The age of the oldest pending
// row is computed at each scrape from that row's time, so it grows between
// counts as it would in the database.
type dbGauges struct {
	db      *sql.DB
	every   time.Duration // 0: count at each scrape
	timeout time.Duration // a count that takes longer fails
	now     func() time.Time

	mu      sync.Mutex
	counted time.Time // when counts was taken; zero: never
	counts  dbCounts

	errors atomic.Uint64
}

// dbCounts is one count of the database.
type dbCounts struct {
	byStatus      map[status]int64
	pending       int64
	oldestPending int64 // created_at in Unix milliseconds; 0 when none
}

// defaultDBMetricsInterval is how old a count may be before a scrape takes
// a new one: Prometheus's default scrape interval, so that by default each
// scrape counts once.
const defaultDBMetricsInterval = 15 * time.Second

func newDBGauges(db *sql.DB, every time.Duration) *dbGauges {
	timeout := 5 * time.Second
	return &dbGauges{db: db, every: every, timeout: timeout, now: time.Now}
}

// Describe implements prometheus.Collector.
func (g *dbGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- descOrdersByStatus
	ch <- descOutboxPending
	ch <- descOutboxOldest
	ch <- descDBGaugeErrors
}

// Collect implements prometheus.Collector. A failed count leaves the gauges
// out of the scrape rather than repeating old values: a gap in a graph
// says what is known, while a flat line would say the backlog stood still.
func (g *dbGauges) Collect(ch chan<- prometheus.Metric) {
	counts, ok := g.current()
	ch <- prometheus.MustNewConstMetric(descDBGaugeErrors, prometheus.CounterValue, float64(g.errors.Load()))
	if !ok {
		return
	}
	for _, s := range allStatuses {
		ch <- prometheus.MustNewConstMetric(descOrdersByStatus, prometheus.GaugeValue, float64(counts.byStatus[s]), string(s))
	}
	ch <- prometheus.MustNewConstMetric(descOutboxPending, prometheus.GaugeValue, float64(counts.pending))
	age := 0.0
	if counts.oldestPending > 0 {
		age = max(0, g.now().Sub(time.UnixMilli(counts.oldestPending)).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(descOutboxOldest, prometheus.GaugeValue, age)
}

// current returns the counts, counting again when the last are too old.
// The lock makes concurrent scrapes share one count.
func (g *dbGauges) current() (dbCounts, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if !g.counted.IsZero() && now.Sub(g.counted) < g.every {
		return g.counts, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	counts, err := countDB(ctx, g.db)
	if err != nil {
		g.errors.Add(1) // counted stays as it was, too old: the next scrape counts
		return dbCounts{}, false
	}
	g.counts, g.counted = counts, now
	return counts, true
}

// countDB runs the two counts. They are separate statements, not one
// snapshot: each is exact as of its own moment, which is all a gauge needs.
func countDB(ctx context.Context, db *sql.DB) (dbCounts, error) {
	c := dbCounts{byStatus: make(map[status]int64, len(allStatuses))}
	rows, err := db.QueryContext(ctx, countByStatusQuery)
	if err != nil {
		return c, fmt.Errorf("orders: counting orders by status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s status
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return c, fmt.Errorf("orders: counting orders by status: %w", err)
		}
		c.byStatus[s] = n
	}
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("orders: counting orders by status: %w", err)
	}
	if err := db.QueryRowContext(ctx, countPendingQuery).Scan(&c.pending, &c.oldestPending); err != nil {
		return c, fmt.Errorf("orders: counting pending outbox rows: %w", err)
	}
	return c, nil
}
