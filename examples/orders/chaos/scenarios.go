//go:build linux

package main

import (
	"context"
	"time"
)

// scenario is one way of breaking the order system, with the promises it
// must keep.
type scenario struct {
	name     string
	title    string
	postgres bool // needs the suite's PostgreSQL
	run      func(ctx context.Context, e *scenarioEnv) error
}

// scenarios returns every scenario, in the order they run.
func scenarios() []scenario {
	return []scenario{
		{"kill9/sqlite", "kill -9 five times under load, on SQLite", false, func(ctx context.Context, e *scenarioEnv) error {
			return killNine(ctx, e, e.sqlite("orders"))
		}},
		{"kill9/postgres", "kill -9 five times under load, on PostgreSQL", true, withPostgres("kill9", killNine)},
		{"db-outage", "PostgreSQL stopped for 10 s under load", true, withPostgres("outage", dbOutage)},
		{"broker-loss", "the broker's data deleted after a kill -9, on PostgreSQL", true, withPostgres("brokerloss", brokerLoss)},
		{"rolling", "two replicas on PostgreSQL and the devbroker, restarted one after the other under load", true, withPostgres("rolling", rolling)},
		{"cold-start", "three replicas started at once on an empty PostgreSQL database", true, coldStart},
		{"storm/sqlite", "a bad-input storm, on SQLite", false, func(ctx context.Context, e *scenarioEnv) error {
			return storm(ctx, e, e.sqlite("orders"))
		}},
		{"storm/postgres", "a bad-input storm, on PostgreSQL", true, withPostgres("storm", storm)},
		{"trickle/sqlite", "SIGTERM under load while a client trickles its body, on SQLite", false, func(ctx context.Context, e *scenarioEnv) error {
			return trickle(ctx, e, e.sqlite("orders"))
		}},
		{"trickle/postgres", "SIGTERM under load while a client trickles its body, on PostgreSQL", true, withPostgres("trickle", trickle)},
	}
}

// withPostgres runs f on a new database of the suite's PostgreSQL.
func withPostgres(dbname string, f func(context.Context, *scenarioEnv, database) error) func(context.Context, *scenarioEnv) error {
	return func(ctx context.Context, e *scenarioEnv) error {
		db, err := e.postgresDB(ctx, dbname)
		if err != nil {
			return err
		}
		return f(ctx, e, db)
	}
}

// pause waits d, the gap between two faults; it returns false when ctx
// ends first.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// scaled returns full, or short in -short mode.
func (e *scenarioEnv) scaled(full, short time.Duration) time.Duration {
	if e.short {
		return short
	}
	return full
}
