package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
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
	app := nameConnections(t, &cfg)
	sys := start(t, cfg)

	// The other replica: a store on the same database, with an announcer
	// and no relay.
	other := openTestDB(t, cfg)
	waitForListener(t, sys, other, app)
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

// TestRelayFailingAnnouncesToOtherReplica runs the relay of one replica
// against a broker that is down, so that it publishes nothing, and a
// second replica whose relay polls once an hour: the first replica's
// relay announces its commit, and the second one publishes it and ships
// the order.
func TestRelayFailingAnnouncesToOtherReplica(t *testing.T) {
	cfg := testConfig(t)
	testPostgres(t, &cfg)
	testKafka(t, &cfg)
	cfg.OutboxInterval = time.Hour
	app := nameConnections(t, &cfg)
	sys := start(t, cfg)
	db := openTestDB(t, cfg)
	waitForListener(t, sys, db, app)

	// The first replica: a store, and a relay whose broker is down.
	s := &store{db: db, topics: sys.store.topics, postgres: true, outboxWritten: newDoorbell()}
	down := newKfake(t, s.topics.all()...)
	addrs := down.ListenAddrs()
	down.Close()
	r := newRelay(s, newProducer(t, addrs, flexkafka.WithWriteAttempts(1)), time.Hour, testLogger())
	r.wake = newPGWake(cfg.DatabaseURL, db, testLogger())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	o, err := s.createOrder(ctx, anOrder("stranded"))
	if err != nil {
		t.Fatal(err)
	}
	waitForStatus(t, sys.url, o.ID, statusShipped)
}

// nameConnections gives cfg's connections an application_name of the
// test's, and returns it, for waitForListener.
func nameConnections(t *testing.T, cfg *config) string {
	t.Helper()
	app := "orders_test_" + strings.ToLower(rand.Text()[:10])
	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	cfg.DatabaseURL = u.String()
	return app
}

// waitForListener waits until sys's outbox listener, whose connection is
// named app, listens, and its relay has made the pass it makes then:
// from then on, only a notification or its poll wakes the relay, and a
// relay polling once an hour publishes another replica's rows only if
// they are announced.
func waitForListener(t *testing.T, sys *system, db *sql.DB, app string) {
	t.Helper()
	waitFor(t, "the outbox listener", func() bool {
		var n int
		err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND query = 'LISTEN `+outboxChannel+`'`, app).Scan(&n)
		return err == nil && n == 1 && sys.relay.passes.covered(1)
	})
}
