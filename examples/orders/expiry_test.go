package main

import (
	"context"
	"testing"
	"time"

	"github.com/go-flexible/flexible/examples/dblock"
	"github.com/go-flexible/flexible/flexcron"
)

// backdate makes order id look created at t.
func backdate(t *testing.T, s *store, id string, at time.Time) {
	t.Helper()
	if _, err := s.db.Exec(`UPDATE orders SET created_at = $1 WHERE id = $2`, at.UnixMilli(), id); err != nil {
		t.Fatal(err)
	}
}

func TestExpireUnpaid(t *testing.T) {
	s := testStore(t)
	ctx := t.Context()
	mk := func(customer string, age time.Duration) string {
		o, err := s.createOrder(ctx, anOrder(customer))
		if err != nil {
			t.Fatal(err)
		}
		backdate(t, s, o.ID, time.Now().Add(-age))
		return o.ID
	}
	old, fresh, paid := mk("old", time.Hour), mk("fresh", time.Minute), mk("paid", time.Hour)
	if _, _, err := s.apply(ctx, paid, toPaid); err != nil {
		t.Fatal(err)
	}

	job := expireUnpaid(s, 30*time.Minute, time.Minute, testLogger())
	if err := job(ctx); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]status{old: statusExpired, fresh: statusCreated, paid: statusPaid} {
		if o, err := s.getOrder(ctx, id); err != nil || o.Status != want {
			t.Errorf("order %s = %s (%v), want %s", id, o.Status, err, want)
		}
	}
	if rows, _ := outboxRows(t, s.db, s.topics.status(statusExpired), old); rows != 1 {
		t.Errorf("%d orders.expired events, want 1", rows)
	}
	if err := job(ctx); err != nil { // again: nothing left to expire
		t.Fatal(err)
	}
	if rows, _ := outboxRows(t, s.db, s.topics.status(statusExpired), old); rows != 1 {
		t.Errorf("%d orders.expired events after a second run, want 1", rows)
	}
	// A payment arriving after the expiry changes nothing.
	if applied, current, err := s.apply(ctx, old, toPaid); err != nil || applied || current != statusExpired {
		t.Errorf("pay an expired order = %v, %s, %v; want not applied, expired", applied, current, err)
	}
}

// TestExpiryTakesTheLock runs the scheduler of the system while another
// replica holds the expiry job's lock: the run is skipped and nothing
// expires; once the lock is free, the next run expires the order.
func TestExpiryTakesTheLock(t *testing.T) {
	cfg := testConfig(t)
	cfg.PaymentTimeout = time.Minute
	s := testStore(t)
	o, err := s.createOrder(t.Context(), anOrder("late"))
	if err != nil {
		t.Fatal(err)
	}
	backdate(t, s, o.ID, time.Now().Add(-time.Hour))

	sched, err := newScheduler(t.Context(), cfg, s.db, false, s, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	other, err := dblock.NewSQLite(t.Context(), s.db, 0) // another replica's locker
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := other.Lock(t.Context(), jobExpire)
	if err != nil {
		t.Fatal(err)
	}
	go sched.Run(context.Background())
	t.Cleanup(func() { sched.Halt(context.Background()) })
	<-sched.Ready()

	stats := func() flexcron.JobStats { return sched.Stats()[0] }
	if err := sched.Trigger(jobExpire); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "run skipped for the lock", func() bool { return stats().LockHeld == 1 })
	if got, _ := s.getOrder(t.Context(), o.ID); got.Status != statusCreated {
		t.Errorf("order expired while another replica held the lock: %s", got.Status)
	}

	unlock()
	if err := sched.Trigger(jobExpire); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "run done", func() bool { return stats().Runs == 1 })
	if st := stats(); st.LastError != nil {
		t.Fatalf("expiry run failed: %v", st.LastError)
	}
	if got, _ := s.getOrder(t.Context(), o.ID); got.Status != statusExpired {
		t.Errorf("order = %s after the expiry run, want expired", got.Status)
	}
}

func TestPurgeOutbox(t *testing.T) {
	s := testStore(t)
	ctx := t.Context()
	for _, c := range []string{"a", "b"} {
		if _, err := s.createOrder(ctx, anOrder(c)); err != nil {
			t.Fatal(err)
		}
	}
	rows, _ := s.pendingOutbox(ctx, 10)
	if err := s.markSent(ctx, []int64{rows[0].id}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`UPDATE outbox SET sent_at = $1 WHERE id = $2`, time.Now().Add(-2*outboxRetention).UnixMilli(), rows[0].id); err != nil {
		t.Fatal(err)
	}
	if err := purgeOutbox(s, testLogger())(ctx); err != nil {
		t.Fatal(err)
	}
	var left int
	s.db.QueryRow(`SELECT COUNT(*) FROM outbox`).Scan(&left)
	if left != 1 {
		t.Errorf("%d outbox rows left, want 1: the old sent row purged, the unsent one kept", left)
	}
}
