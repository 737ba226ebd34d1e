package main

import (
	"context"
	"database/sql"
	"slices"
	"sync"
	"time"
)

// shipping are the figures of orders flowing through the pipeline at a
// fixed rate: from creation to shipment, and the backlog on the way.
type shipping struct {
	rate       float64
	load       figures // the creates
	shipped    int
	p50, p99   time.Duration // created → shipped
	max        time.Duration
	backlogMax int // orders created or paid, at most, sampled during the load
	backlogEnd int // at the end of the load
	settled    bool
	settle     time.Duration // from the end of the load until every order shipped
}

// backlogSample is how often the backlog is sampled during a load.
const backlogSample = 250 * time.Millisecond

// shipping creates orders at rate per second on s for -d, samples the
// backlog meanwhile, waits for them to ship (at most a minute) and reads
// each one's time from creation to shipment from db.
func (e *env) shipping(ctx context.Context, s *service, db database, rate float64) (shipping, error) {
	pool, err := db.open()
	if err != nil {
		return shipping{}, err
	}
	defer pool.Close()
	since := time.Now().UnixMilli()
	backlog := func() int {
		var n int
		pool.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders WHERE status IN ('created', 'paid') AND created_at >= $1`, since).Scan(&n)
		return n
	}
	res := shipping{rate: rate}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(backlogSample)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				res.backlogMax = max(res.backlogMax, backlog())
			}
		}
	})
	rep, err := e.loadgen(ctx, s, 0, rate)
	close(stop)
	wg.Wait()
	if err != nil {
		return res, err
	}
	res.load = rep.figures()
	res.backlogEnd = backlog()
	loadEnd := time.Now()
	res.settled = waitFor(ctx, time.Minute, func() bool { return backlog() == 0 })
	res.settle = time.Since(loadEnd)
	latencies, err := shipTimes(ctx, pool, since)
	if err != nil {
		return res, err
	}
	res.shipped = len(latencies)
	f := summarize(latencies, time.Second)
	res.p50, res.p99 = f.p50, f.p99
	if len(latencies) > 0 {
		res.max = slices.Max(latencies)
	}
	return res, nil
}

// shipTimes returns the time from creation to shipment of the orders
// created since (Unix ms) and shipped: the shipping transaction sets
// updated_at.
func shipTimes(ctx context.Context, db *sql.DB, since int64) ([]time.Duration, error) {
	rows, err := db.QueryContext(ctx, `SELECT updated_at - created_at FROM orders WHERE status = 'shipped' AND created_at >= $1`, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []time.Duration
	for rows.Next() {
		var ms int64
		if err := rows.Scan(&ms); err != nil {
			return nil, err
		}
		out = append(out, time.Duration(ms)*time.Millisecond)
	}
	return out, rows.Err()
}

// summarize returns the count, rate and quantiles of latencies measured
// over elapsed.
func summarize(latencies []time.Duration, elapsed time.Duration) figures {
	f := figures{n: len(latencies)}
	if len(latencies) == 0 {
		return f
	}
	slices.Sort(latencies)
	q := func(p float64) time.Duration { return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))] }
	f.p50, f.p99 = q(0.50), q(0.99)
	f.perSec = float64(len(latencies)) / elapsed.Seconds()
	return f
}
