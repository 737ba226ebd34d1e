//go:build linux

package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// coldStart starts three replicas at the same moment on an empty
// PostgreSQL database, several times: the migrations run under a lock, so
// every replica becomes ready and none exits. The last time, they take
// load behind a balancer and the audit checks the workflow.
func coldStart(ctx context.Context, e *scenarioEnv) error {
	broker, err := e.startBroker(ctx)
	if err != nil {
		return err
	}
	tries := 5
	if e.short {
		tries = 2
	}
	var readies []time.Duration
	for try := 1; try <= tries; try++ {
		db, err := e.postgresDB(ctx, fmt.Sprintf("coldstart%d", try))
		if err != nil {
			return err
		}
		// A topic prefix per try keeps each try's events and consumer
		// groups apart on the shared broker.
		var reps []*replica
		for _, name := range []string{"a", "b", "c"} {
			r, err := e.newReplica(fmt.Sprintf("try%d-%s", try, name), db,
				"FLEX_KAFKA_BROKERS="+broker, fmt.Sprintf("ORDERS_KAFKA_PREFIX=try%d.", try))
			if err != nil {
				return err
			}
			reps = append(reps, r)
		}
		ready, ok := startTogether(ctx, e, reps)
		readies = append(readies, ready...)
		if !ok {
			continue
		}
		if try < tries {
			for _, r := range reps {
				if code, took, err := r.stop(30 * time.Second); err != nil || code != 0 {
					e.r.failf("%s: SIGTERM: exit code %d after %s, %v", r.name, code, took.Round(time.Millisecond), err)
				}
			}
			continue
		}
		b, err := newBalancer(reps[0].api, reps[1].api, reps[2].api)
		if err != nil {
			return err
		}
		defer b.close()
		lr, err := e.startLoad("load", b.url(), db, e.load(e.scaled(20*time.Second, 10*time.Second)))
		if err != nil {
			return err
		}
		lr.wait(ctx, e.r)
	}
	e.r.note("%d × 3 replicas started at once on an empty database, ready in %s", tries, spread(readies))
	return nil
}

// startTogether starts reps at once and waits for each to be ready; it
// reports false, failing the scenario, when any is not.
func startTogether(ctx context.Context, e *scenarioEnv, reps []*replica) ([]time.Duration, bool) {
	for _, r := range reps {
		if err := r.start(); err != nil {
			e.r.failf("%s: %v", r.name, err)
			return nil, false
		}
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		readies []time.Duration
		ok      = true
	)
	for _, r := range reps {
		wg.Go(func() {
			ready, err := r.waitReady(ctx, readyTimeout)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				e.r.failf("%v", err)
				ok = false
				return
			}
			readies = append(readies, ready)
		})
	}
	wg.Wait()
	return readies, ok
}
