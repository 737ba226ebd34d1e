package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// mix says how much of each request comes with each order created: the
// probability (0–1) that a client reads its order back, lists the recent
// orders, and cancels its order right after creating it.
type mix struct {
	get, list, cancel float64
}

// loadConfig is the traffic to send.
type loadConfig struct {
	rate        float64       // orders per second, open loop; used when conc is 0
	conc        int           // clients each creating orders one after the other, closed loop
	duration    time.Duration // how long orders are started
	mix         mix
	retries     int // of a create that got no answer or 503, with its Idempotency-Key
	maxInFlight int // open loop: orders in progress at most; beyond, a due order is skipped
}

// loadResult is what generate did, besides the stats of its requests.
type loadResult struct {
	elapsed time.Duration // from the first order started to the last finished
	started int           // order sessions started
	skipped int           // open loop: due while maxInFlight were in progress
}

// generate sends the traffic of cfg with c until cfg.duration has passed,
// waits for the orders in progress and returns. Created orders go to b.
// When ctx is done it stops at once, cutting short what is in progress.
func generate(ctx context.Context, c *client, b *book, cfg loadConfig) loadResult {
	start := time.Now()
	end := start.Add(cfg.duration)
	var wg sync.WaitGroup
	var started, skipped atomic.Int64
	session := func() {
		started.Add(1)
		orderSession(ctx, c, b, cfg)
	}
	if cfg.conc > 0 {
		for range cfg.conc {
			wg.Go(func() {
				for time.Now().Before(end) && ctx.Err() == nil {
					session()
				}
			})
		}
	} else {
		var inFlight atomic.Int64
		interval := time.Duration(float64(time.Second) / cfg.rate)
		timer := time.NewTimer(0)
		defer timer.Stop()
		// Each order is due at start + i·interval, whether or not the
		// previous ones are answered: a slow server does not slow the
		// arrivals (no coordinated omission), and no drift accumulates.
	loop:
		for i := 0; ; i++ {
			due := start.Add(time.Duration(i) * interval)
			if !due.Before(end) {
				break
			}
			timer.Reset(time.Until(due))
			select {
			case <-ctx.Done():
				break loop
			case <-timer.C:
			}
			if inFlight.Load() >= int64(cfg.maxInFlight) {
				skipped.Add(1)
				continue
			}
			inFlight.Add(1)
			wg.Go(func() {
				defer inFlight.Add(-1)
				session()
			})
		}
	}
	wg.Wait()
	return loadResult{elapsed: time.Since(start), started: int(started.Load()), skipped: int(skipped.Load())}
}

// orderSession is one client's visit: it creates an order, then perhaps
// reads it back, lists the recent orders and cancels it, as cfg.mix says.
func orderSession(ctx context.Context, c *client, b *book, cfg loadConfig) {
	a := randomOrder()
	id, res := c.create(ctx, a, cfg.retries)
	if id == "" {
		if res.retryable() {
			b.unknown(a) // it may have been created: the audit asks again
		}
		return
	}
	b.created(id)
	if rand.Float64() < cfg.mix.get {
		state, _ := c.get(ctx, id)
		b.saw(id, state)
	}
	if rand.Float64() < cfg.mix.list {
		c.list(ctx, 20)
	}
	if rand.Float64() < cfg.mix.cancel {
		if res := c.cancel(ctx, id); res.status == 200 {
			b.saw(id, "cancelled")
		}
	}
}

// Catalogue of the orders loadgen places.
var (
	skus   = []string{"BOOK-1", "BOOK-2", "TEA-7", "MUG-3", "PEN-9", "LAMP-4", "SOCKS-12", "CHAIR-5"}
	prices = []int{1250, 2100, 499, 899, 150, 3999, 799, 12900}
)

// randomOrder returns a create of 1–4 lines from the catalogue by one of
// 500 customers, with an Idempotency-Key of its own.
func randomOrder() createAttempt {
	lines := 1 + rand.IntN(4)
	items := make([]item, 0, lines)
	for _, i := range rand.Perm(len(skus))[:lines] {
		items = append(items, item{SKU: skus[i], Qty: 1 + rand.IntN(3), PriceCents: prices[i]})
	}
	return newCreate(fmt.Sprintf("customer-%03d", rand.IntN(500)), items)
}
