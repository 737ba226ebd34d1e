package main

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/segmentio/kafka-go"
)

// eventMessage returns the message the relay would publish for the outbox
// row of the order's event on topic.
func eventMessage(t *testing.T, s *store, s2 status, orderID string) kafka.Message {
	t.Helper()
	var payload string
	topic := s.topics.status(s2)
	if err := s.db.QueryRow(`SELECT payload FROM outbox WHERE topic = $1 AND msg_key = $2`, topic, orderID).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	return kafka.Message{Topic: topic, Key: []byte(orderID), Value: []byte(payload)}
}

// TestHandlersAreIdempotent hands the payments and shipping handlers the
// same message twice: the order moves once, and one event is written.
func TestHandlersAreIdempotent(t *testing.T) {
	s := testStore(t)
	o, err := s.createOrder(t.Context(), anOrder("carol"))
	if err != nil {
		t.Fatal(err)
	}
	pay := newPayments(s, testLogger())
	created := eventMessage(t, s, statusCreated, o.ID)
	for i := range 2 {
		if err := pay.handle(t.Context(), created); err != nil {
			t.Fatalf("payments, delivery %d: %v", i+1, err)
		}
	}
	if rows, _ := outboxRows(t, s.db, s.topics.status(statusPaid), o.ID); rows != 1 {
		t.Errorf("%d orders.paid events after two deliveries, want 1", rows)
	}

	ship := newShipping(s, testLogger())
	paid := eventMessage(t, s, statusPaid, o.ID)
	for i := range 2 {
		if err := ship.handle(t.Context(), paid); err != nil {
			t.Fatalf("shipping, delivery %d: %v", i+1, err)
		}
	}
	// A late duplicate of orders.created must not move a shipped order.
	if err := pay.handle(t.Context(), created); err != nil {
		t.Fatal(err)
	}
	got, err := s.getOrder(t.Context(), o.ID)
	if err != nil || got.Status != statusShipped {
		t.Errorf("order after duplicates = %+v, %v; want shipped", got, err)
	}
	if rows, _ := outboxRows(t, s.db, s.topics.status(statusShipped), o.ID); rows != 1 {
		t.Errorf("%d orders.shipped events after two deliveries, want 1", rows)
	}
}

// TestHandlersRejectBadMessages checks that a message that can never be
// handled fails, naming why. That they fail permanently, dead-lettered
// without retries, is checked by TestEndToEnd.
func TestHandlersRejectBadMessages(t *testing.T) {
	s := testStore(t)
	pay := newPayments(s, testLogger())
	ship := newShipping(s, testLogger())
	for _, tt := range []struct {
		name, value, want string
	}{
		{"malformed", "{", "malformed event"},
		{"no order_id", `{"status":"created"}`, "has no order_id"},
		{"unknown order", `{"order_id":"ord_nope","status":"created"}`, "no such order"},
	} {
		msg := kafka.Message{Topic: "t", Value: []byte(tt.value)}
		for name, handle := range map[string]func() error{
			"payments": func() error { return pay.handle(t.Context(), msg) },
			"shipping": func() error { return ship.handle(t.Context(), msg) },
		} {
			if err := handle(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s, %s message: error = %v, want one saying %q", name, tt.name, err, tt.want)
			}
		}
	}
}

// TestRacingTransitionsApplyOnce applies payments and cancellations of one
// order concurrently, as two replicas handling a duplicate and a customer
// cancelling at the same moment would: exactly one wins, and exactly one
// event is written.
func TestRacingTransitionsApplyOnce(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		s := &store{db: openTestDB(t, cfg), topics: topics{}}
		o, err := s.createOrder(t.Context(), anOrder("racer"))
		if err != nil {
			t.Fatal(err)
		}
		var (
			wg      sync.WaitGroup
			applied atomic.Int32
		)
		for i := range 16 {
			wg.Go(func() {
				tr := toPaid
				if i%2 == 1 {
					tr = toCancelled
				}
				ok, _, err := s.apply(context.Background(), o.ID, tr)
				if err != nil {
					t.Errorf("apply %s: %v", tr.to, err)
				}
				if ok {
					applied.Add(1)
				}
			})
		}
		wg.Wait()
		if n := applied.Load(); n != 1 {
			t.Errorf("%d transitions applied, want 1", n)
		}
		paid, _ := outboxRows(t, s.db, s.topics.status(statusPaid), o.ID)
		cancelled, _ := outboxRows(t, s.db, s.topics.status(statusCancelled), o.ID)
		if paid+cancelled != 1 {
			t.Errorf("%d orders.paid and %d orders.cancelled events, want one in all", paid, cancelled)
		}
	})
}
