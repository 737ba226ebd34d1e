package main

import (
	"context"
	"testing"
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
	go newPGWake(cfg.DatabaseURL, other, testLogger()).announce(ctx, rung.rung())

	o, err := s.createOrder(ctx, anOrder("elsewhere"))
	if err != nil {
		t.Fatal(err)
	}
	waitForStatus(t, sys.url, o.ID, statusShipped)
}
