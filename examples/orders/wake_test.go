package main

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestRelayWokenByCommit polls the outbox once an hour: an order is still
// shipped, its events published as soon as they are committed.
func TestRelayWokenByCommit(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		testKafka(t, &cfg)
		cfg.OutboxInterval = time.Hour
		sys := start(t, cfg)
		o := createOrder(t, sys.url, "woken")
		waitForStatus(t, sys.url, o.ID, statusShipped)
	})
}

// TestRelayWokenByOtherReplica writes an order with its event the way
// another replica does, and announces it on PostgreSQL's outbox channel
// as that replica's relay would: this replica's relay, which polls once an
// hour, publishes it and the order is shipped.
func TestRelayWokenByOtherReplica(t *testing.T) {
	cfg := testConfig(t)
	testPostgres(t, &cfg)
	testKafka(t, &cfg)
	cfg.OutboxInterval = time.Hour
	sys := start(t, cfg)

	// The other replica: a store on the same database, with an announcer
	// and no relay.
	other := openTestDB(t, cfg)
	rung := newDoorbell()
	s := &store{db: other, topics: sys.store.topics, postgres: true, outboxWritten: rung}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go newPGWake(cfg.DatabaseURL, other, testLogger()).announce(ctx, rung.rung(), nil)

	o, err := s.createOrder(ctx, anOrder("elsewhere"))
	if err != nil {
		t.Fatal(err)
	}
	waitForStatus(t, sys.url, o.ID, statusShipped)
}

// TestAnnounceOnlyWhatTheRelayLeaves drives the announcer with a relay
// that publishes each commit at once, one that fails, and one that is
// slower than announceAfter, on a fake clock, and counts the
// notifications: none while the relay keeps up (every commit announced,
// as before, would send one per ring), one per announceAfter at most while
// it fails, and one for a slow pass.
func TestAnnounceOnlyWhatTheRelayLeaves(t *testing.T) {
	const rings = 100 // one a millisecond
	for _, tc := range []struct {
		name    string
		publish time.Duration // how long a pass takes to publish; 0: it fails
		min     int
		max     int
	}{
		{"keeping up", time.Microsecond, 0, 0},
		{"failing", 0, 1, rings/int(announceAfter/time.Millisecond) + 1},
		{"slower", announceAfter + 5*time.Millisecond, 1, rings},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var sent atomic.Int64
				w := &pgWake{log: testLogger(), notify: func(context.Context) error {
					sent.Add(1)
					return nil
				}}
				var passes passLog
				bell := newDoorbell()
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				go w.announce(ctx, bell.rung(), &passes)

				// The relay's loop, as in relay.Run: a pass per commit,
				// one at a time.
				for range rings {
					pass := passes.start()
					bell.ring()
					if tc.publish > 0 {
						time.Sleep(tc.publish)
						passes.publish(pass)
					}
					time.Sleep(time.Millisecond)
				}
				time.Sleep(2 * announceAfter)
				synctest.Wait()
				if got := int(sent.Load()); got < tc.min || got > tc.max {
					t.Errorf("%d notifications for %d commits, want %d to %d", got, rings, tc.min, tc.max)
				}
			})
		})
	}
}
