package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"net/url"
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

// TestApplyAllFindsOrdersByID moves a batch of orders on PostgreSQL once
// the table has grown and been analyzed, with few orders in the batch's
// status: its statement must read the orders through their ID's index
// only, never through a status index (whose entries for every version of
// an order that left the status since the last vacuum a bitmap scan
// reads, each one, for every batch), nor sequentially. It is planned for
// each execution's values, as PostgreSQL plans a prepared statement in its
// first five executions and whenever the plan it would cache costs more;
// that plan is the one that chose the status index. The scans are
// PostgreSQL's own counts, flushed on the test's one connection.
func TestApplyAllFindsOrdersByID(t *testing.T) {
	cfg := testConfig(t)
	testPostgres(t, &cfg)
	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("plan_cache_mode", "force_custom_plan")
	u.RawQuery = q.Encode()
	cfg.DatabaseURL = u.String()
	ctx := t.Context()
	db := openTestDB(t, cfg)
	db.SetMaxOpenConns(1) // the statistics of one connection, flushed by ordersScans
	s := &store{db: db, topics: topics{}, postgres: true}
	if _, err := db.ExecContext(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
		t.Skipf("PostgreSQL without pg_stat_force_next_flush (before 15): %v", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO orders (id, customer, status, total_cents, created_at, updated_at)
		SELECT 'ord_grown' || g, 'grown', 'shipped', 100, 0, 0 FROM generate_series(1, 20000) AS g`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ANALYZE orders`); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 20)
	for i := range ids {
		o, err := s.createOrder(ctx, anOrder("by-id"))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = o.ID
	}
	seqBefore, otherBefore := ordersScans(t, db)
	res, err := s.applyAll(ctx, ids, toPaid)
	if err != nil {
		t.Fatal(err)
	}
	seqAfter, otherAfter := ordersScans(t, db)
	for i, r := range res {
		if !r.applied {
			t.Errorf("order %s not moved: %+v", ids[i], r)
		}
	}
	if seqAfter != seqBefore {
		t.Errorf("the batch's statement scanned orders sequentially %d times", seqAfter-seqBefore)
	}
	if otherAfter != otherBefore {
		t.Errorf("the batch's statement scanned %d times an index of orders other than its ID's", otherAfter-otherBefore)
	}
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
