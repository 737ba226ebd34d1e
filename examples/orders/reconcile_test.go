package main

import (
	"bufio"
	"bytes"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexcron"
)

// stuckOrder stores an order in status st (created, paid or shipped) with
// every outbox row marked sent, as if the relay had published them all,
// created and last changed age ago. With unsent set, its events are left
// unsent instead (a later stuckOrder marks them sent).
func stuckOrder(t *testing.T, s *store, st status, age time.Duration, unsent bool) string {
	t.Helper()
	ctx := t.Context()
	o, err := s.createOrder(ctx, anOrder("stuck-"+string(st)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []transition{toPaid, toShipped} {
		if st == tr.from {
			break
		}
		if _, _, err := s.apply(ctx, o.ID, tr); err != nil {
			t.Fatal(err)
		}
	}
	if !unsent {
		markAllSent(t, s)
	}
	at := time.Now().Add(-age).UnixMilli()
	if _, err := s.db.Exec(`UPDATE orders SET created_at = $1, updated_at = $1 WHERE id = $2`, at, o.ID); err != nil {
		t.Fatal(err)
	}
	return o.ID
}

// markAllSent marks every unsent outbox row sent, as a relay would once
// the broker acknowledged them.
func markAllSent(t *testing.T, s *store) {
	t.Helper()
	rows, err := s.pendingOutbox(t.Context(), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.id
	}
	if err := s.markSent(t.Context(), ids); err != nil {
		t.Fatal(err)
	}
}

// redrivenIDs maps the orders of events to their status.
func redrivenIDs(events []event) map[string]status {
	got := map[string]status{}
	for _, ev := range events {
		got[ev.OrderID] = ev.Status
	}
	return got
}

func sameRedrives(got, want map[string]status) bool {
	if len(got) != len(want) {
		return false
	}
	for id, s := range want {
		if got[id] != s {
			return false
		}
	}
	return true
}

// TestRedriveStuck checks which orders redriveStuck re-drives, and that it
// re-drives each at most once per threshold: the orders in created or
// paid for longer than the threshold, with their events all sent, get the
// event of their status written to the outbox again; fresh, final and
// pending ones, and created ones past the payment timeout, do not. A run
// within the threshold of the last re-drive re-drives nothing; one after
// it re-drives them again.
func TestRedriveStuck(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		s := &store{db: openTestDB(t, cfg)}
		const after, timeout = 5 * time.Minute, time.Hour
		created := stuckOrder(t, s, statusCreated, 10*time.Minute, false)
		paid := stuckOrder(t, s, statusPaid, 10*time.Minute, false)
		paidLong := stuckOrder(t, s, statusPaid, 2*time.Hour, false) // no payment timeout once paid
		fresh := stuckOrder(t, s, statusCreated, time.Minute, false)
		stuckOrder(t, s, statusShipped, 10*time.Minute, false)
		expiring := stuckOrder(t, s, statusCreated, 2*time.Hour, false)  // the expiry job's
		pending := stuckOrder(t, s, statusCreated, 10*time.Minute, true) // last: published at the next relay pass

		now := time.Now()
		events, err := s.redriveStuck(t.Context(), now, after, timeout, 100)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]status{created: statusCreated, paid: statusPaid, paidLong: statusPaid}
		if got := redrivenIDs(events); !sameRedrives(got, want) {
			t.Errorf("re-driven %v, want %v", got, want)
		}
		for id, st := range want {
			if rows, unsent := outboxRows(t, s.db, s.topics.status(st), id); rows != 2 || unsent != 1 {
				t.Errorf("order %s: %d orders.%s events, %d unsent; want 2, the new one unsent", id, rows, st, unsent)
			}
		}
		if c, p := s.redriven.created.Load(), s.redriven.paid.Load(); c != 1 || p != 2 {
			t.Errorf("counted %d created, %d paid re-drives; want 1, 2", c, p)
		}
		if rows, _ := outboxRows(t, s.db, s.topics.status(statusCreated), pending); rows != 1 {
			t.Errorf("order with an unsent event: %d orders.created events, want 1", rows)
		}
		if rows, _ := outboxRows(t, s.db, s.topics.status(statusCreated), expiring); rows != 1 {
			t.Errorf("order past the payment timeout: %d orders.created events, want 1", rows)
		}

		// The re-drives are published, and lost again; pending's event is
		// still waiting for the relay.
		publishAllBut := func() {
			if _, err := s.db.Exec(`UPDATE outbox SET sent_at = $1 WHERE sent_at IS NULL AND msg_key <> $2`,
				time.Now().UnixMilli(), pending); err != nil {
				t.Fatal(err)
			}
		}
		publishAllBut()
		for _, tt := range []struct {
			later time.Duration
			want  map[string]status
		}{
			{0, map[string]status{}},
			{after - time.Second, map[string]status{fresh: statusCreated}}, // stuck by now, the others not again
			{after + time.Second, want},                                    // the threshold after the first re-drive
		} {
			events, err := s.redriveStuck(t.Context(), now.Add(tt.later), after, timeout, 100)
			if err != nil {
				t.Fatal(err)
			}
			if got := redrivenIDs(events); !sameRedrives(got, tt.want) {
				t.Errorf("%v after the first re-drive: re-driven %v, want %v", tt.later, got, tt.want)
			}
			publishAllBut()
		}
	})
}

// TestReconcileBatches checks that redriveStuck takes at most limit
// orders, oldest change first, so that a backlog is worked off over
// several runs, and that the job logs one line per run, with the count,
// not one per order.
func TestReconcileBatches(t *testing.T) {
	s := testStore(t)
	var ids []string
	for age := 5; age >= 1; age-- {
		ids = append(ids, stuckOrder(t, s, statusPaid, time.Duration(age)*time.Hour, false))
	}
	for _, want := range [][]string{ids[0:2], ids[2:4], ids[4:5], nil} {
		events, err := s.redriveStuck(t.Context(), time.Now(), time.Minute, time.Hour, 2)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range events {
			got = append(got, ev.OrderID)
		}
		slices.Sort(got)
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Errorf("batch = %v, want %v (oldest first)", got, want)
		}
	}

	for range 3 {
		stuckOrder(t, s, statusCreated, 10*time.Minute, false)
	}
	var logs bytes.Buffer
	job := reconcile(s, time.Minute, time.Hour, slog.New(slog.NewTextHandler(&logs, nil)))
	if err := job(t.Context()); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(logs.String()), "\n"); len(lines) != 1 ||
		!strings.Contains(lines[0], "re-drove orders stuck") || !strings.Contains(lines[0], "count=3 created=3 paid=0") {
		t.Errorf("log of a run that re-drove 3 orders:\n%s\nwant one line with count=3 created=3 paid=0", logs.String())
	}
	logs.Reset()
	if err := job(t.Context()); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("log of a run that re-drove nothing: %s, want nothing", logs.String())
	}
}

// TestExpiryWaitsForRedrive checks that expiry never beats a re-driven
// payment: an order whose orders.created event was re-driven is not
// expired within the threshold after the re-drive, even past the payment
// timeout, while an old unpaid order never re-driven is. After the
// threshold the re-driven order, still unpaid, expires; the reconcile job
// leaves it to expiry rather than re-drive it forever.
func TestExpiryWaitsForRedrive(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		s := &store{db: openTestDB(t, cfg)}
		ctx := t.Context()
		const after, timeout = 5 * time.Minute, time.Hour
		redriven := stuckOrder(t, s, statusCreated, timeout-2*time.Minute, false)
		never := stuckOrder(t, s, statusCreated, 2*timeout, false)

		now := time.Now()
		events, err := s.redriveStuck(ctx, now, after, timeout, 100)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := redrivenIDs(events), map[string]status{redriven: statusCreated}; !sameRedrives(got, want) {
			t.Fatalf("re-driven %v, want %v", got, want)
		}
		// The expiry job's query, as it would run at now+d.
		expireAt := func(d time.Duration) []string {
			at := now.Add(d)
			ids, err := s.expireUnpaid(ctx, at.Add(-timeout), at.Add(-after))
			if err != nil {
				t.Fatal(err)
			}
			return ids
		}
		// 3 minutes on, both are past the payment timeout; the re-drive was
		// 3 minutes ago.
		if got := expireAt(3 * time.Minute); !slices.Equal(got, []string{never}) {
			t.Errorf("expired %v, want only the order never re-driven, %s", got, never)
		}
		if o, _ := s.getOrder(ctx, redriven); o.Status != statusCreated {
			t.Errorf("re-driven order = %s within the threshold after its re-drive, want created", o.Status)
		}
		// 6 minutes on, still unpaid: it is expiry's, not re-driven again.
		if events, err := s.redriveStuck(ctx, now.Add(6*time.Minute), after, timeout, 100); err != nil || len(events) != 0 {
			t.Errorf("re-driven past the payment timeout: %v, %v; want nothing", redrivenIDs(events), err)
		}
		if got := expireAt(6 * time.Minute); !slices.Equal(got, []string{redriven}) {
			t.Errorf("expired %v, want the re-driven order, %s, unpaid the threshold after its re-drive", got, redriven)
		}

		// The job, at the real time, uses the same rule.
		held := stuckOrder(t, s, statusCreated, 2*timeout, false)
		if _, err := s.db.Exec(`UPDATE orders SET redriven_at = $1 WHERE id = $2`, time.Now().Add(-after/2).UnixMilli(), held); err != nil {
			t.Fatal(err)
		}
		if err := expireUnpaid(s, timeout, after, testLogger())(ctx); err != nil {
			t.Fatal(err)
		}
		if o, _ := s.getOrder(ctx, held); o.Status != statusCreated {
			t.Errorf("expiry job: order re-driven %v ago = %s, want created", after/2, o.Status)
		}
	})
}

// TestReconcileAfterBrokerDataLoss is issue 10's fault: the system is
// stopped while orders are mid-flow, their events published and marked
// sent in the outbox, and the broker's data is lost. Started again on the
// same database with an empty Kafka cluster, it re-drives every stuck
// order, which then reaches shipped, once, and counts them in
// orders_reconciled_total; an order re-driven just before the crash waits
// for its threshold; an old unpaid order is expired, and nothing
// re-driven is.
func TestReconcileAfterBrokerDataLoss(t *testing.T) {
	forEachDatabase(t, testReconcileAfterBrokerDataLoss)
}

func testReconcileAfterBrokerDataLoss(t *testing.T, cfg config) {
	testKafka(t, &cfg)
	sys := start(t, cfg)
	var shipped []string
	for range 3 {
		o := createOrder(t, sys.url, "before-the-crash")
		waitForStatus(t, sys.url, o.ID, statusShipped)
		shipped = append(shipped, o.ID)
	}
	if err := sys.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	// Mid-flow when the broker's data was lost: the events of these orders
	// had been published and marked sent, and will never be delivered.
	s := &store{db: openTestDB(t, cfg), topics: sys.store.topics}
	stuck := map[string]status{}
	const after = 10 * time.Minute // the threshold: far beyond the test, so each order is re-driven once
	for range 4 {
		stuck[stuckOrder(t, s, statusCreated, 2*after, false)] = statusCreated
		stuck[stuckOrder(t, s, statusPaid, 2*after, false)] = statusPaid
	}
	// Re-driven by the last run before the crash: due again only once its
	// threshold has passed.
	recent := stuckOrder(t, s, statusCreated, 2*after, false)
	if _, err := s.db.Exec(`UPDATE orders SET redriven_at = $1 WHERE id = $2`, time.Now().Add(-10*time.Second).UnixMilli(), recent); err != nil {
		t.Fatal(err)
	}
	old := stuckOrder(t, s, statusCreated, 2*cfg.PaymentTimeout, false) // unpaid too long: the expiry job's

	before := sys.store.topics
	testKafka(t, &cfg) // a new, empty cluster (with FLEX_KAFKA_TEST_BROKERS, new topics)
	cfg.ReconcileAfter = after
	cfg.ReconcileSpec = "@every 1s"
	cfg.ExpirySpec = "@every 1s"
	sys = start(t, cfg)
	// Events on the topics of either run (with FLEX_KAFKA_TEST_BROKERS,
	// the second has a prefix of its own).
	count := func(st status, id string) int {
		n, _ := outboxRows(t, s.db, before.status(st), id)
		if sys.store.topics != before {
			m, _ := outboxRows(t, s.db, sys.store.topics.status(st), id)
			n += m
		}
		return n
	}
	for id := range stuck {
		waitForStatus(t, sys.url, id, statusShipped)
	}
	waitForStatus(t, sys.url, old, statusExpired)
	if got := reconciled(t, sys); got[statusCreated] != 4 || got[statusPaid] != 4 {
		t.Errorf("orders_reconciled_total = %v, want 4 created, 4 paid", got)
	}
	// Two more runs: nothing more to re-drive, and the order re-driven
	// before the crash is still within its threshold.
	runs := jobStats(t, sys, jobReconcile).Runs
	waitFor(t, "two more reconcile runs", func() bool { return jobStats(t, sys, jobReconcile).Runs >= runs+2 })
	if got := reconciled(t, sys); got[statusCreated] != 4 || got[statusPaid] != 4 {
		t.Errorf("orders_reconciled_total = %v after more runs, want 4 created, 4 paid still", got)
	}
	if o, _ := sys.store.getOrder(t.Context(), recent); o.Status != statusCreated {
		t.Errorf("order re-driven 10s before the crash = %s, want created until its threshold passes", o.Status)
	}
	if rows := count(statusCreated, recent); rows != 1 {
		t.Errorf("order re-driven 10s before the crash: %d orders.created events, want 1: not re-driven within the threshold", rows)
	}

	// Its threshold passes: it is re-driven and shipped.
	if _, err := sys.db.Exec(`UPDATE orders SET redriven_at = $1 WHERE id = $2`, time.Now().Add(-2*cfg.ReconcileAfter).UnixMilli(), recent); err != nil {
		t.Fatal(err)
	}
	waitForStatus(t, sys.url, recent, statusShipped)
	if got := reconciled(t, sys); got[statusCreated] != 5 {
		t.Errorf("orders_reconciled_total = %v, want 5 created", got)
	}
	if err := sys.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	// Each stuck event published once more, each later step once; the
	// shipped orders and the expired one untouched.
	for id, st := range stuck {
		if n := count(st, id); n != 2 {
			t.Errorf("stuck %s order %s: %d orders.%s events, want 2 (the lost one, the re-drive)", st, id, n, st)
		}
		if n := count(statusShipped, id); n != 1 {
			t.Errorf("stuck order %s: %d orders.shipped events, want 1", id, n)
		}
		if n := count(statusExpired, id); n != 0 {
			t.Errorf("re-driven order %s expired", id)
		}
	}
	for _, id := range shipped {
		if n := count(statusCreated, id) + count(statusPaid, id); n != 2 {
			t.Errorf("order shipped before the crash: %d orders.created and orders.paid events, want 2: not re-driven", n)
		}
	}
	if n := count(statusCreated, old); n != 1 {
		t.Errorf("expired order: %d orders.created events, want 1: not re-driven", n)
	}
}

// reconciled scrapes orders_reconciled_total by status from the system's
// /metrics.
func reconciled(t *testing.T, sys *system) map[status]float64 {
	t.Helper()
	resp, err := http.Get(sys.opsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := map[status]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		series, value, ok := strings.Cut(sc.Text(), " ")
		st, found := strings.CutPrefix(series, `orders_reconciled_total{status="`)
		if !ok || !found {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("/metrics: %s: %v", sc.Text(), err)
		}
		got[status(strings.TrimSuffix(st, `"}`))] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("/metrics has orders_reconciled_total for %v, want created and paid", got)
	}
	return got
}

// jobStats returns the stats of the system's cron job name.
func jobStats(t *testing.T, sys *system, name string) flexcron.JobStats {
	t.Helper()
	for _, st := range sys.cron.Stats() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no cron job %q", name)
	return flexcron.JobStats{}
}
