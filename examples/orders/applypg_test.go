package main

import (
	"database/sql"
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

// TestApplyAllFindsOrdersByID runs a batch's statement on PostgreSQL five
// times and more while the orders table is small, as a fresh system does,
// then again once the table has grown and holds few orders in the
// batch's status: the statement must still read the orders through their
// ID's index only, with no sequential scan (the plan PostgreSQL caches
// with a connection after five executions, made for the small table) and
// no scan of a status index (whose entries for the versions of orders
// that left the status a bitmap scan reads, every one, each time). The
// scans are PostgreSQL's own counts, flushed on the test's one connection.
func TestApplyAllFindsOrdersByID(t *testing.T) {
	cfg := testConfig(t)
	testPostgres(t, &cfg)
	ctx := t.Context()
	db := openTestDB(t, cfg)
	db.SetMaxOpenConns(1) // every statement on the connection that caches the plans
	s := &store{db: db, topics: topics{}, postgres: true}
	if _, err := db.ExecContext(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
		t.Skipf("PostgreSQL without pg_stat_force_next_flush (before 15): %v", err)
	}
	move := func(n int) {
		t.Helper()
		ids := make([]string, n)
		for i := range ids {
			o, err := s.createOrder(ctx, anOrder("by-id"))
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = o.ID
		}
		res, err := s.applyAll(ctx, ids, toPaid)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if !r.applied {
				t.Fatalf("order %s not moved: %+v", ids[i], r)
			}
		}
	}
	// No ANALYZE but the test's: PostgreSQL re-plans a cached statement
	// after one, which would hide a plan cached for the small table.
	if _, err := db.ExecContext(ctx, `ALTER TABLE orders SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		move(20) // past the five executions after which PostgreSQL may cache a plan
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO orders (id, customer, status, total_cents, created_at, updated_at)
		SELECT 'ord_grown' || g, 'grown', 'shipped', 100, 0, 0 FROM generate_series(1, 20000) AS g`); err != nil {
		t.Fatal(err)
	}
	byIDOnly := func(when string) {
		t.Helper()
		seqBefore, otherBefore := ordersScans(t, db)
		move(3)
		seqAfter, otherAfter := ordersScans(t, db)
		if seqAfter != seqBefore {
			t.Errorf("%s: the batch's statement scanned orders sequentially %d times", when, seqAfter-seqBefore)
		}
		if otherAfter != otherBefore {
			t.Errorf("%s: the batch's statement scanned %d times an index of orders other than its ID's", when, otherAfter-otherBefore)
		}
	}
	byIDOnly("grown, not analyzed")
	if _, err := db.ExecContext(ctx, `ANALYZE orders`); err != nil {
		t.Fatal(err)
	}
	byIDOnly("grown and analyzed")
}

// ordersScans returns PostgreSQL's counts of sequential scans of orders
// and of scans of its indexes other than the ID's, with the connection's
// own counts flushed first.
func ordersScans(t *testing.T, db *sql.DB) (seq, otherIndexes int64) {
	t.Helper()
	// The counts of a connection reach the shared statistics when it
	// goes idle, at most once a second unless forced.
	if _, err := db.Exec(`SELECT pg_stat_force_next_flush()`); err != nil {
		t.Fatal(err)
	}
	err := db.QueryRow(`SELECT t.seq_scan,
		(SELECT coalesce(sum(i.idx_scan), 0) FROM pg_stat_user_indexes i WHERE i.relid = t.relid AND i.indexrelname <> 'orders_id_key')
		FROM pg_stat_user_tables t WHERE t.relid = 'orders'::regclass`).Scan(&seq, &otherIndexes)
	if err != nil {
		t.Fatal(err)
	}
	return seq, otherIndexes
}
