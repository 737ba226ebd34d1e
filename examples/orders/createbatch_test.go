package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// pgStore returns the API's store on a PostgreSQL schema of its own, or
// skips the test without DATABASE_URL.
func pgStore(t *testing.T, appName string) (*store, config) {
	t.Helper()
	cfg := testConfig(t)
	testPostgres(t, &cfg)
	if appName != "" { // to find the store's sessions in pg_stat_activity
		cfg.DatabaseURL += "&application_name=" + appName
	}
	return &store{db: openTestDB(t, cfg), topics: topics{}, postgres: true}, cfg
}

// newCreateReq returns a request to create an order for customer, with
// the Idempotency-Key key ("" for none), as createIdempotent builds it.
func newCreateReq(t *testing.T, customer, key string) *createReq {
	t.Helper()
	req := anOrder(customer)
	now := time.Now().UTC().Truncate(time.Millisecond)
	o := order{ID: newOrderID(), Customer: customer, Status: statusCreated, TotalCents: total(req.Items),
		CreatedAt: now, UpdatedAt: now}
	for _, it := range req.Items {
		o.Items = append(o.Items, item{SKU: it.SKU, Qty: it.Qty, PriceCents: it.PriceCents})
	}
	r := &createReq{ctx: t.Context(), o: o, payload: fmt.Sprintf(`{"order_id":%q}`, o.ID),
		res: createResponse{orderID: o.ID, status: http.StatusCreated, location: "/orders/" + o.ID, body: []byte(`{}`)}}
	if key != "" {
		r.idem = &idempotency{key: key, hash: requestHash(req)}
	}
	return r
}

// takeAll queues reqs, without starting a worker, and takes the first
// batch, as a worker would.
func takeAll(t *testing.T, b *createBatcher, reqs ...*createReq) []*createReq {
	t.Helper()
	for _, r := range reqs {
		r.prepare()
		b.queue = append(b.queue, r)
	}
	b.running = 1 // this test is the worker
	return b.take()
}

// outcomes returns what write sent to each of reqs.
func outcomes(reqs []*createReq) []createOutcome {
	out := make([]createOutcome, len(reqs))
	for i, r := range reqs {
		out[i] = <-r.done
	}
	return out
}

// TestCreateBatchKeys writes, in one statement, a batch holding a new
// key, a key recorded earlier, an expired key and no key, while a second
// request with the new key waits in the queue: each gets its own outcome,
// the batch is not refused (a key twice in one ON CONFLICT statement
// would be), and the second request, in the next batch, finds the key held.
func TestCreateBatchKeys(t *testing.T) {
	s, _ := pgStore(t, "")
	ctx := t.Context()
	held := newCreateReq(t, "held", "key-held")
	expired := newCreateReq(t, "expired", "key-expired")
	b := &s.creates
	b.write(s, takeAll(t, b, held, expired))
	if out := outcomes([]*createReq{held, expired}); !out[0].created || !out[1].created {
		t.Fatalf("first batch: %+v, want both created", out)
	}
	if _, err := s.db.Exec(`UPDATE idempotency_keys SET created_at = 0 WHERE idem_key = 'key-expired'`); err != nil {
		t.Fatal(err)
	}

	fresh, again := newCreateReq(t, "fresh", "key-new"), newCreateReq(t, "fresh", "key-new")
	replay, takeover, none := newCreateReq(t, "held", "key-held"), newCreateReq(t, "expired", "key-expired"), newCreateReq(t, "none", "")
	batch := takeAll(t, b, fresh, again, replay, takeover, none)
	if len(batch) != 4 || len(b.queue) != 1 || b.queue[0] != again {
		t.Fatalf("batch of %d with %d left queued, want 4 and the second key-new", len(batch), len(b.queue))
	}
	b.write(s, batch)
	want := map[*createReq]bool{fresh: true, replay: false, takeover: true, none: true}
	for i, out := range outcomes(batch) {
		if out.err != nil || out.alone || out.created != want[batch[i]] {
			t.Errorf("%s: %+v, want created %v", batch[i].o.Customer, out, want[batch[i]])
		}
	}
	b.write(s, b.take())
	if b.take() != nil || len(b.queue) != 0 || b.running != 0 {
		t.Errorf("queue not empty, or the worker not counted out, after the batches")
	}
	if out := <-again.done; out.err != nil || out.created {
		t.Errorf("second request with key-new: %+v, want its key found held", out)
	}
	rec, err := s.recordedResponse(ctx, again.idem)
	if err != nil || rec.orderID != fresh.o.ID {
		t.Errorf("recorded response of key-new: %+v, %v; want order %s", rec, err, fresh.o.ID)
	}
	if orders, events := countOrders(t, s); orders != 5 || events != 5 {
		t.Errorf("%d orders and %d events, want 5 and 5 (held, expired, fresh, takeover, none)", orders, events)
	}
}

// TestCreateBatchRefusedRow writes a batch in which one order breaks a
// constraint: the server refuses the statement, and each request is then
// written alone, so that only that one fails and the others are created.
func TestCreateBatchRefusedRow(t *testing.T) {
	s, _ := pgStore(t, "")
	if _, err := s.db.Exec(`ALTER TABLE orders ADD CONSTRAINT no_poison CHECK (customer <> 'poison')`); err != nil {
		t.Fatal(err)
	}
	b := &s.creates
	reqs := []*createReq{newCreateReq(t, "good-1", "k1"), newCreateReq(t, "poison", "k2"), newCreateReq(t, "good-2", "")}
	batch := takeAll(t, b, reqs...)
	if len(batch) != 3 {
		t.Fatalf("batch of %d, want 3", len(batch))
	}
	b.write(s, batch)
	for i, out := range outcomes(batch) {
		created, err := b.finish(s, batch[i], out)
		var pgErr *pgconn.PgError
		switch poison := batch[i].o.Customer == "poison"; {
		case poison && !(errors.As(err, &pgErr) && pgErr.Code == "23514"):
			t.Errorf("poison: created %v, error %v; want a check violation", created, err)
		case !poison && (err != nil || !created):
			t.Errorf("%s: created %v, error %v; want created", batch[i].o.Customer, created, err)
		}
	}
	if orders, events := countOrders(t, s); orders != 2 || events != 2 {
		t.Errorf("%d orders and %d events, want the 2 good ones", orders, events)
	}
	if got := b.alone.Load(); got != 3 {
		t.Errorf("%d requests written alone, want 3", got)
	}
}

// TestCreateBatchConnectionLost cuts the connection of a batch in the
// middle of its statement, as a restart of PostgreSQL does: every request
// gets an error that answers 503 (none is written alone, which would only
// meet the same outage), nothing of the batch is committed, and the
// clients' retries with the same keys create each order once.
func TestCreateBatchConnectionLost(t *testing.T) {
	app := "orders_test_" + strings.ToLower(newOrderID()[4:12])
	s, cfg := pgStore(t, app)
	tx, err := rawDB(t, cfg).Begin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	if _, err := tx.Exec(`LOCK TABLE outbox IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	b := &s.creates
	reqs := []*createReq{newCreateReq(t, "a", "ka"), newCreateReq(t, "b", "kb"), newCreateReq(t, "c", "")}
	batch := takeAll(t, b, reqs...)
	done := make(chan struct{})
	go func() { b.write(s, batch); close(done) }()
	waitFor(t, "the batch waiting for the outbox", func() bool {
		var n int
		s.db.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&n)
		return n == 1
	})
	var killed bool
	if err := tx.QueryRow(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminate the batch's backend: %v, %v", killed, err)
	}
	<-done
	if b.take() != nil { // and counts this test out as the worker
		t.Fatal("requests left in the queue")
	}
	for i, out := range outcomes(batch) {
		if out.err == nil || out.alone || !dbUnavailable(out.err) {
			t.Errorf("%s: %+v, want an unavailable error, not written alone", batch[i].o.Customer, out)
		}
	}
	tx.Rollback()
	if orders, events := countOrders(t, s); orders != 0 || events != 0 {
		t.Errorf("%d orders and %d events after the lost batch, want none", orders, events)
	}
	for _, r := range reqs { // the clients' retries
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		r.ctx = ctx
		created, err := b.create(s, r)
		cancel()
		if err != nil || !created {
			t.Errorf("%s retried: created %v, %v", r.o.Customer, created, err)
		}
	}
	if orders, events := countOrders(t, s); orders != 3 || events != 3 {
		t.Errorf("%d orders and %d events after the retries, want 3 and 3", orders, events)
	}
}

// TestCreateConcurrentKeys sends, through the API, from many clients at
// once, four requests with each of eight keys and eight without a key, so
// that batches hold, and leave for the next, requests with one key: every
// request gets a 201, those with one key the same Location, exactly one of
// them not replayed, and there is one order per key and per keyless
// request. (SQLite's writer runs the same requests, for comparison.)
func TestCreateConcurrentKeys(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		const keys, perKey, keyless = 8, 4, 8
		cfg.DBMaxConns = 4
		s, url := testAPIOn(t, cfg)
		type answer struct {
			key, location string
			code          int
			replayed      bool
		}
		answers := make(chan answer, keys*perKey+keyless)
		var wg sync.WaitGroup
		for i := range keys*perKey + keyless {
			key := ""
			if i < keys*perKey {
				key = fmt.Sprintf("key-%d", i%keys)
			}
			wg.Go(func() {
				body := fmt.Sprintf(`{"customer":"c-%s","items":[{"sku":"X","qty":1,"price_cents":1}]}`, key)
				resp, _ := post(t, url, key, body)
				answers <- answer{key, resp.Header.Get("Location"), resp.StatusCode, resp.Header.Get("Idempotent-Replayed") == "true"}
			})
		}
		wg.Wait()
		close(answers)
		locations := map[string]string{}
		fresh := map[string]int{}
		for a := range answers {
			if a.code != http.StatusCreated {
				t.Errorf("key %q: %d, want 201", a.key, a.code)
				continue
			}
			if a.key == "" {
				continue
			}
			if loc, ok := locations[a.key]; ok && loc != a.location {
				t.Errorf("key %q: Location %s and %s", a.key, loc, a.location)
			}
			locations[a.key] = a.location
			if !a.replayed {
				fresh[a.key]++
			}
		}
		for k := range keys {
			if key := fmt.Sprintf("key-%d", k); fresh[key] != 1 {
				t.Errorf("key %q: %d answers not replayed, want 1", key, fresh[key])
			}
		}
		if orders, events := countOrders(t, s); orders != keys+keyless || events != keys+keyless {
			t.Errorf("%d orders and %d events, want %d", orders, events, keys+keyless)
		}
	})
}
