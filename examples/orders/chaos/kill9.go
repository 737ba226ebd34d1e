//go:build linux

package main

import (
	"context"
	"time"
)

// killNine kills the order system with SIGKILL five times under load,
// restarting it at once each time. The transactional outbox and the
// consumers' committed offsets must carry every order to its end.
func killNine(ctx context.Context, e *scenarioEnv, db database) error {
	const kills = 5
	r, err := e.startReplica(ctx, "orders", db)
	if err != nil {
		return err
	}
	l := e.load(e.scaled(36*time.Second, 18*time.Second))
	lr, err := e.startLoad("load", r.url(), db, l)
	if err != nil {
		return err
	}
	var readies []time.Duration
	for i := 1; i <= kills && pause(ctx, l.d/(kills+1)); i++ {
		r.kill()
		if err := r.start(); err != nil {
			return err
		}
		ready, err := r.waitReady(ctx, readyTimeout)
		if err != nil {
			e.r.failf("after kill -9 number %d: %v", i, err)
			break
		}
		readies = append(readies, ready)
		e.logf("kill -9 number %d: ready again %s after the restart", i, ready.Round(time.Millisecond))
	}
	lr.wait(ctx, e.r)
	e.r.note("kill -9 ×%d, ready again %s after each restart", len(readies), spread(readies))
	return nil
}

// spread writes durations as "min–max".
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "–"
	}
	lo, hi := ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return lo.Round(10*time.Millisecond).String() + "–" + hi.Round(10*time.Millisecond).String()
}
