//go:build linux

package main

import (
	"context"
	"fmt"
	"time"
)

// rolling runs two replicas sharing PostgreSQL and the devbroker behind a
// round-robin balancer, and restarts them one after the other under load,
// as a Kubernetes rolling update does: SIGTERM, wait for the exit (which
// must be 0), start again, wait for readiness, then the next one.
func rolling(ctx context.Context, e *scenarioEnv, db database) error {
	broker, err := e.startBroker(ctx)
	if err != nil {
		return err
	}
	var reps []*replica
	for _, name := range []string{"orders-a", "orders-b"} {
		r, err := e.startReplica(ctx, name, db, "FLEX_KAFKA_BROKERS="+broker)
		if err != nil {
			return err
		}
		reps = append(reps, r)
	}
	b, err := newBalancer(reps[0].api, reps[1].api)
	if err != nil {
		return err
	}
	defer b.close()
	l := e.load(e.scaled(40*time.Second, 20*time.Second))
	lr, err := e.startLoad("load", b.url(), db, l)
	if err != nil {
		return err
	}
	var steps []string
	for _, r := range reps {
		if !pause(ctx, l.d/4) {
			return ctx.Err()
		}
		code, took, err := r.stop(40 * time.Second)
		if err != nil || code != 0 {
			e.r.failf("%s: SIGTERM under load: exit code %d after %s, %v", r.name, code, took.Round(time.Millisecond), err)
		}
		if err := r.start(); err != nil {
			return err
		}
		ready, err := r.waitReady(ctx, readyTimeout)
		if err != nil {
			e.r.failf("%s after its restart: %v", r.name, err)
			continue
		}
		steps = append(steps, fmt.Sprintf("%s exit %d in %s, ready in %s", r.name, code, took.Round(time.Millisecond), ready.Round(time.Millisecond)))
	}
	lr.wait(ctx, e.r)
	for _, s := range steps {
		e.r.note("%s", s)
	}
	return nil
}
