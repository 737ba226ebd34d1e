package main

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// TestApplyAllBatch moves a batch holding an order twice, an order that
// moved on and a fresh one, then a batch holding an unknown order, on
// both databases: PostgreSQL's one statement (applyAllPG) must answer
// what the transaction of applyTx does, message by message: the order
// given twice moved once, with one event, its second message finding it
// moved on; the moved-on order left alone with its status; and the
// unknown order failing its batch with nothing moved.
func TestApplyAllBatch(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		ctx := t.Context()
		s := &store{db: openTestDB(t, cfg), topics: topics{}, postgres: cfg.DatabaseURL != ""}
		var ids []string
		for _, customer := range []string{"twice", "moved-on", "fresh"} {
			o, err := s.createOrder(ctx, anOrder(customer))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, o.ID)
		}
		twice, movedOn, fresh := ids[0], ids[1], ids[2]
		if applied, _, err := s.apply(ctx, movedOn, toCancelled); err != nil || !applied {
			t.Fatalf("cancel: %v, %v", applied, err)
		}

		res, err := s.applyAll(ctx, []string{twice, twice, movedOn, fresh}, toPaid)
		if err != nil {
			t.Fatal(err)
		}
		want := []outcome{{true, statusPaid}, {false, statusPaid}, {false, statusCancelled}, {true, statusPaid}}
		for i := range want {
			if res[i] != want[i] {
				t.Errorf("message %d: %+v, want %+v", i, res[i], want[i])
			}
		}
		for id, n := range map[string]int{twice: 1, movedOn: 0, fresh: 1} {
			if rows, _ := outboxRows(t, s.db, s.topics.status(statusPaid), id); rows != n {
				t.Errorf("order %s: %d orders.paid events, want %d", id, rows, n)
			}
		}
		var payload string
		if err := s.db.QueryRow(`SELECT payload FROM outbox WHERE topic = $1 AND msg_key = $2`, s.topics.status(statusPaid), twice).Scan(&payload); err != nil {
			t.Fatal(err)
		}
		var ev event
		if err := json.Unmarshal([]byte(payload), &ev); err != nil {
			t.Fatalf("event %s: %v", payload, err)
		}
		if ev.OrderID != twice || ev.Status != statusPaid || ev.Customer != "twice" || ev.TotalCents != total(anOrder("").Items) ||
			time.Since(ev.Time) > time.Hour || time.Since(ev.Time) < 0 {
			t.Errorf("event %s: %+v", payload, ev)
		}

		_, err = s.applyAll(ctx, []string{twice, "ord_unknown"}, toShipped)
		if !errors.Is(err, errNotFound) {
			t.Fatalf("batch with an unknown order: %v, want errNotFound", err)
		}
		if o, err := s.getOrder(ctx, twice); err != nil || o.Status != statusPaid {
			t.Errorf("order of the failed batch: %s, %v; want still paid", o.Status, err)
		}
		if rows, _ := outboxRows(t, s.db, s.topics.status(statusShipped), twice); rows != 0 {
			t.Errorf("%d orders.shipped events after the failed batch, want none", rows)
		}
	})
}
