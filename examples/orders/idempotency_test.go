package main

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// post sends POST /orders with body and, unless empty, an Idempotency-Key,
// and returns the answer with its body read.
func post(t *testing.T, url, key, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", url+"/orders", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set(headerIdempotencyKey, key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// countOrders returns how many orders, and orders.created events, the
// database holds.
func countOrders(t *testing.T, s *store) (orders, events int) {
	t.Helper()
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM orders`).Scan(&orders); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM outbox WHERE topic = $1`, s.topics.status(statusCreated)).Scan(&events); err != nil {
		t.Fatal(err)
	}
	return orders, events
}

// TestIdempotencyKey retries POST /orders with the same key: the same
// status, Location and body, byte for byte, and one order; the same body
// with its fields spaced and ordered otherwise is the same request; the
// same key with another body is refused with 422; another key creates
// another order.
func TestIdempotencyKey(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		s, url := testAPIOn(t, cfg)
		body := `{"customer":"alice","items":[{"sku":"BOOK-1","qty":2,"price_cents":1250}]}`
		first, firstBody := post(t, url, "key-1", body)
		if first.StatusCode != 201 || first.Header.Get("Location") == "" {
			t.Fatalf("first POST = %d %s", first.StatusCode, firstBody)
		}
		if first.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("first POST: Idempotent-Replayed = %q, want none", first.Header.Get("Idempotent-Replayed"))
		}
		same := ` { "items": [ {"price_cents":1250, "qty":2, "sku":"BOOK-1"} ], "customer": "alice" } `
		for _, b := range []string{body, same} {
			again, againBody := post(t, url, "key-1", b)
			if again.StatusCode != first.StatusCode || again.Header.Get("Location") != first.Header.Get("Location") ||
				!bytes.Equal(againBody, firstBody) || again.Header.Get("Content-Type") != "application/json" {
				t.Errorf("retry = %d %q %s, want %d %q %s", again.StatusCode, again.Header.Get("Location"), againBody,
					first.StatusCode, first.Header.Get("Location"), firstBody)
			}
			if again.Header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("retry: Idempotent-Replayed = %q, want true", again.Header.Get("Idempotent-Replayed"))
			}
		}
		if orders, events := countOrders(t, s); orders != 1 || events != 1 {
			t.Errorf("%d orders and %d orders.created events after retries, want 1 and 1", orders, events)
		}

		other, otherBody := post(t, url, "key-1", strings.Replace(body, `"qty":2`, `"qty":3`, 1))
		if other.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(otherBody), `Idempotency-Key \"key-1\" was used with a different request`) {
			t.Errorf("same key, other body = %d %s, want 422 naming the key", other.StatusCode, otherBody)
		}
		if next, _ := post(t, url, "key-2", body); next.StatusCode != 201 || next.Header.Get("Location") == first.Header.Get("Location") {
			t.Errorf("another key = %d %q, want 201 and another order", next.StatusCode, next.Header.Get("Location"))
		}
		if noKey, _ := post(t, url, "", body); noKey.StatusCode != 201 {
			t.Errorf("no key = %d, want 201", noKey.StatusCode)
		}
		if orders, events := countOrders(t, s); orders != 3 || events != 3 {
			t.Errorf("%d orders and %d events, want 3 and 3", orders, events)
		}
	})
}

// TestIdempotencyKeyConcurrent sends the same request with the same key
// from many clients at once, with every transaction made to overlap: the
// first one is held in the middle (PostgreSQL: another session locks the
// outbox; SQLite: another process holds the write lock) until every
// request waits (PostgreSQL: the batches being written for the outbox or
// the key, the others queued for the next batches, each of which holds a
// key once). Exactly one order is created and every client gets its
// 201 with the same Location. (A check-then-insert of the key would give
// the others a unique violation, 500, on PostgreSQL.)
func TestIdempotencyKeyConcurrent(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		const clients = 10
		postgres := cfg.DatabaseURL != ""
		app := "orders_test_" + strings.ToLower(rand.Text()[:8])
		if postgres { // to find the requests' sessions in pg_stat_activity
			cfg.DatabaseURL += "&application_name=" + app
		}
		cfg.DBMaxConns = clients + 1 // every request holds one while it waits, and the test queries
		s := &store{db: openTestDB(t, cfg), postgres: postgres}
		var inFlight atomic.Int32
		h := newAPI(s, cfg, testLogger()).handler()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inFlight.Add(1)
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)

		var release func()
		if postgres {
			tx, err := rawDB(t, cfg).Begin()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(`LOCK TABLE outbox IN EXCLUSIVE MODE`); err != nil {
				t.Fatal(err)
			}
			release = func() { tx.Rollback() }
			t.Cleanup(release) // before the schema is dropped, should the test fail
		} else {
			release = holdSQLiteWriteLock(t, cfg.SQLitePath)
		}

		body := `{"customer":"racer","items":[{"sku":"X","qty":1,"price_cents":1}]}`
		var wg sync.WaitGroup
		codes := make([]int, clients)
		locations := make([]string, clients)
		for i := range clients {
			wg.Go(func() {
				resp, _ := post(t, srv.URL, "same-key", body)
				codes[i], locations[i] = resp.StatusCode, resp.Header.Get("Location")
			})
		}
		if postgres {
			// The first request waits for the outbox, the others for its key.
			waitFor(t, "every request waiting", func() bool {
				var n int
				s.db.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&n)
				return n == min(clients, createBatches) && s.creates.pending.Load() == clients
			})
		} else {
			waitFor(t, "every request in flight", func() bool { return inFlight.Load() == clients })
		}
		release()
		wg.Wait()
		for i := range clients {
			if codes[i] != 201 || locations[i] != locations[0] {
				t.Errorf("client %d: %d %q, want 201 %q", i, codes[i], locations[i], locations[0])
			}
		}
		if orders, events := countOrders(t, s); orders != 1 || events != 1 {
			t.Errorf("%d orders and %d orders.created events, want 1 and 1", orders, events)
		}
	})
}

// TestIdempotencyKeyExpires checks that a key is forgotten after its TTL:
// a request with an expired key creates a new order even before the purge
// job has run, and the purge job deletes expired keys only.
func TestIdempotencyKeyExpires(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		cfg.IdempotencyTTL = time.Hour
		s, url := testAPIOn(t, cfg)
		body := `{"customer":"slow","items":[{"sku":"X","qty":1,"price_cents":1}]}`
		first, _ := post(t, url, "old-key", body)
		post(t, url, "fresh-key", body)
		if _, err := s.db.Exec(`UPDATE idempotency_keys SET created_at = $1 WHERE idem_key = 'old-key'`,
			time.Now().Add(-2*time.Hour).UnixMilli()); err != nil {
			t.Fatal(err)
		}
		again, _ := post(t, url, "old-key", body)
		if again.StatusCode != 201 || again.Header.Get("Location") == first.Header.Get("Location") {
			t.Errorf("expired key = %d %q, want 201 and a new order", again.StatusCode, again.Header.Get("Location"))
		}
		// Expire it again; the purge job deletes it and keeps the fresh one.
		if _, err := s.db.Exec(`UPDATE idempotency_keys SET created_at = $1 WHERE idem_key = 'old-key'`,
			time.Now().Add(-2*time.Hour).UnixMilli()); err != nil {
			t.Fatal(err)
		}
		if err := purgeKeys(s, cfg.IdempotencyTTL, testLogger())(t.Context()); err != nil {
			t.Fatal(err)
		}
		var keys []string
		rows, err := s.db.Query(`SELECT idem_key FROM idempotency_keys`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			rows.Scan(&k)
			keys = append(keys, k)
		}
		if len(keys) != 1 || keys[0] != "fresh-key" {
			t.Errorf("keys after the purge = %v, want [fresh-key]", keys)
		}
	})
}

// TestIdempotencyKeyWithOrder checks that the key is stored in the
// order's transaction: when the order cannot be stored, the key is not
// either, and a retry creates the order.
func TestIdempotencyKeyWithOrder(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		s, url := testAPIOn(t, cfg)
		// Make the outbox insert, the last of the transaction, fail.
		if _, err := s.db.Exec(`ALTER TABLE outbox RENAME TO outbox_away`); err != nil {
			t.Fatal(err)
		}
		body := `{"customer":"crash","items":[{"sku":"X","qty":1,"price_cents":1}]}`
		if resp, b := post(t, url, "k", body); resp.StatusCode != 500 {
			t.Fatalf("POST with the outbox gone = %d %s, want 500", resp.StatusCode, b)
		}
		var keys int
		s.db.QueryRow(`SELECT COUNT(*) FROM idempotency_keys`).Scan(&keys)
		if keys != 0 {
			t.Errorf("%d keys stored for a failed order, want 0", keys)
		}
		if _, err := s.db.Exec(`ALTER TABLE outbox_away RENAME TO outbox`); err != nil {
			t.Fatal(err)
		}
		if resp, b := post(t, url, "k", body); resp.StatusCode != 201 || resp.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("retry = %d %s, want 201, a new order", resp.StatusCode, b)
		}
	})
}
