package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gaugeScrape is one scrape of a dbGauges: the samples by name and label
// value ("" for none).
type gaugeScrape map[string]map[string]float64

func scrapeGauges(t *testing.T, g *dbGauges) gaugeScrape {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(g); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	got := gaugeScrape{}
	for _, f := range families {
		got[f.GetName()] = map[string]float64{}
		for _, m := range f.GetMetric() {
			label := ""
			for _, l := range m.GetLabel() {
				label = l.GetValue()
			}
			got[f.GetName()][label] = value(m)
		}
	}
	return got
}

func value(m *dto.Metric) float64 {
	if m.GetGauge() != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

// TestDBGauges counts orders in every status and the unsent outbox rows of
// a real database, SQLite and PostgreSQL.
func TestDBGauges(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		ctx := context.Background()
		db := openTestDB(t, cfg)
		s := &store{db: db, postgres: cfg.DatabaseURL != ""}
		g := newDBGauges(db, time.Hour)
		now := time.Now()
		g.now = func() time.Time { return now }

		empty := scrapeGauges(t, g)
		for _, st := range allStatuses {
			if n, ok := empty["orders_by_status"][string(st)]; !ok || n != 0 {
				t.Errorf("empty database: orders_by_status{status=%q} = %v (present %v), want 0", st, n, ok)
			}
		}
		if empty["orders_outbox_pending"][""] != 0 || empty["orders_outbox_oldest_pending_age_seconds"][""] != 0 {
			t.Errorf("empty database: outbox gauges = %v", empty)
		}

		var ids []string
		for range 5 {
			o, err := s.createOrder(ctx, anOrder("alice"))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, o.ID)
		}
		for _, step := range []struct {
			id string
			t  transition
		}{{ids[0], toPaid}, {ids[0], toShipped}, {ids[1], toPaid}, {ids[2], toCancelled}, {ids[3], toExpired}} {
			if applied, _, err := s.apply(ctx, step.id, step.t); err != nil || !applied {
				t.Fatalf("apply %v to %s: applied %v, %v", step.t, step.id, applied, err)
			}
		}
		var oldest int64
		if err := db.QueryRow(`SELECT min(created_at) FROM outbox`).Scan(&oldest); err != nil {
			t.Fatal(err)
		}
		// One event per create and per transition; the oldest two sent.
		if _, err := db.Exec(`UPDATE outbox SET sent_at = created_at WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT 2)`); err != nil {
			t.Fatal(err)
		}
		var firstUnsent int64
		if err := db.QueryRow(`SELECT min(created_at) FROM outbox WHERE sent_at IS NULL`).Scan(&firstUnsent); err != nil {
			t.Fatal(err)
		}

		now = now.Add(2 * time.Hour) // past the interval: a new count
		got := scrapeGauges(t, g)
		want := map[string]float64{"created": 1, "paid": 1, "shipped": 1, "cancelled": 1, "expired": 1}
		for st, n := range want {
			if got["orders_by_status"][st] != n {
				t.Errorf("orders_by_status{status=%q} = %v, want %v", st, got["orders_by_status"][st], n)
			}
		}
		if p := got["orders_outbox_pending"][""]; p != 10-2 {
			t.Errorf("orders_outbox_pending = %v, want 8 (10 events, 2 sent)", p)
		}
		wantAge := now.Sub(time.UnixMilli(firstUnsent)).Seconds()
		if age := got["orders_outbox_oldest_pending_age_seconds"][""]; age != wantAge {
			t.Errorf("oldest pending age = %v s, want %v s (from the oldest unsent row, not the oldest row)", age, wantAge)
		}
		if e := got["orders_db_metrics_errors_total"][""]; e != 0 {
			t.Errorf("errors = %v, want 0", e)
		}
	})
}

// TestDBGaugesCountOncePerInterval checks that scrapes within the interval
// share one count, that the oldest row's age still grows between counts,
// and that the next scrape after the interval counts again.
func TestDBGaugesCountOncePerInterval(t *testing.T) {
	ctx := context.Background()
	s := testStore(t)
	g := newDBGauges(s.db, 15*time.Second)
	now := time.Now()
	g.now = func() time.Time { return now }
	if _, err := s.createOrder(ctx, anOrder("alice")); err != nil {
		t.Fatal(err)
	}
	first := scrapeGauges(t, g)
	if first["orders_by_status"]["created"] != 1 {
		t.Fatalf("orders_by_status{created} = %v, want 1", first["orders_by_status"]["created"])
	}
	if _, err := s.createOrder(ctx, anOrder("bob")); err != nil {
		t.Fatal(err)
	}

	now = now.Add(10 * time.Second) // within the interval: the same count
	within := scrapeGauges(t, g)
	if within["orders_by_status"]["created"] != 1 || within["orders_outbox_pending"][""] != 1 {
		t.Errorf("within the interval: created %v, pending %v; want the first count, 1 and 1",
			within["orders_by_status"]["created"], within["orders_outbox_pending"][""])
	}
	if grew := within["orders_outbox_oldest_pending_age_seconds"][""] - first["orders_outbox_oldest_pending_age_seconds"][""]; grew != 10 {
		t.Errorf("the oldest row's age grew by %v s in 10 s between counts, want 10", grew)
	}

	now = now.Add(5 * time.Second) // the interval is over
	after := scrapeGauges(t, g)
	if after["orders_by_status"]["created"] != 2 || after["orders_outbox_pending"][""] != 2 {
		t.Errorf("after the interval: created %v, pending %v; want a new count, 2 and 2",
			after["orders_by_status"]["created"], after["orders_outbox_pending"][""])
	}
}

// TestDBGaugesDatabaseDown checks that a failed count leaves the gauges out
// of the scrape, with no stale values, counts the failure, and that the
// next scrape counts again rather than waiting for the interval.
func TestDBGaugesDatabaseDown(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	db := openTestDB(t, cfg)
	s := &store{db: db}
	if _, err := s.createOrder(ctx, anOrder("alice")); err != nil {
		t.Fatal(err)
	}
	g := newDBGauges(db, time.Hour)
	now := time.Now()
	g.now = func() time.Time { return now }
	if got := scrapeGauges(t, g); got["orders_by_status"]["created"] != 1 {
		t.Fatalf("before the failure: %v", got)
	}

	// The database is gone, its tables dropped under the running pool,
	// when the interval is over.
	now = now.Add(2 * time.Hour)
	for _, table := range []string{"order_items", "idempotency_keys", "outbox", "orders", "job_runs", "schema_migrations"} {
		if _, err := db.Exec(`DROP TABLE ` + table); err != nil {
			t.Fatalf("drop %s: %v", table, err)
		}
	}
	got := scrapeGauges(t, g)
	for name := range got {
		if strings.HasPrefix(name, "orders_by_status") || strings.HasPrefix(name, "orders_outbox") {
			t.Errorf("a failed count still exports %s = %v", name, got[name])
		}
	}
	if e := got["orders_db_metrics_errors_total"][""]; e != 1 {
		t.Errorf("orders_db_metrics_errors_total = %v, want 1", e)
	}

	// Back: the next scrape counts again.
	if _, err := migrate(ctx, db, false); err != nil {
		t.Fatal(err)
	}
	got = scrapeGauges(t, g)
	if n, ok := got["orders_by_status"]["created"]; !ok || n != 0 {
		t.Errorf("after recovery: orders_by_status{created} = %v (present %v), want 0 from a new count", n, ok)
	}
	if e := got["orders_db_metrics_errors_total"][""]; e != 1 {
		t.Errorf("orders_db_metrics_errors_total = %v, want still 1", e)
	}
}
