package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOutagePostgres cuts the API's connections to PostgreSQL, and every
// new one, with a TCP proxy: each request gets 503 with Retry-After and a
// problem body, not 500; once the database is back, the same requests
// succeed again, without a restart.
func TestOutagePostgres(t *testing.T) {
	cfg := testConfig(t)
	testPostgres(t, &cfg)
	proxy := newTCPProxy(t, postgresAddr(t))
	cfg.DatabaseURL = proxy.rewrite(t, cfg.DatabaseURL)
	_, url := testAPIOn(t, cfg)
	o := createOrder(t, url, "before")

	proxy.cut()
	checkUnavailable(t, url, o.ID, true)

	proxy.restore()
	createOrder(t, url, "after")
	var got order
	if code := do(t, "GET", url+"/orders/"+o.ID, nil, &got); code != 200 || got.ID != o.ID {
		t.Errorf("GET /orders/{id} after the outage = %d %+v, want 200 and the order", code, got)
	}
}

// TestOutageSQLite makes another process hold the SQLite file's write
// lock for longer than the busy timeout: writes get 503 with Retry-After
// and a problem body; reads go on (WAL); once the lock is released, writes
// succeed again.
func TestOutageSQLite(t *testing.T) {
	cfg := testConfig(t)
	cfg.SQLiteBusyTimeout = 100 * time.Millisecond
	_, url := testAPIOn(t, cfg)
	o := createOrder(t, url, "before")

	release := holdSQLiteWriteLock(t, cfg.SQLitePath)
	checkUnavailable(t, url, o.ID, false)
	var got order
	if code := do(t, "GET", url+"/orders/"+o.ID, nil, &got); code != 200 || got.ID != o.ID {
		t.Errorf("GET /orders/{id} while another process writes = %d %+v, want 200: readers do not wait", code, got)
	}

	release()
	createOrder(t, url, "after")
}

// checkUnavailable checks that the writes, and the reads when reads too
// are cut, answer 503 with Retry-After and a problem body.
func checkUnavailable(t *testing.T, url, id string, reads bool) {
	t.Helper()
	requests := []struct{ method, path string }{
		{"POST", "/orders"},
		{"POST", "/orders/" + id + "/cancel"},
	}
	if reads {
		requests = append(requests, []struct{ method, path string }{
			{"GET", "/orders/" + id},
			{"GET", "/orders"},
		}...)
	}
	for _, r := range requests {
		var body *strings.Reader
		if r.path == "/orders" && r.method == "POST" {
			body = strings.NewReader(`{"customer":"during","items":[{"sku":"X","qty":1,"price_cents":1}]}`)
		} else {
			body = strings.NewReader("")
		}
		resp, err := http.Post(url+r.path, "application/json", body)
		if r.method == "GET" {
			resp, err = http.Get(url + r.path)
		}
		if err != nil {
			t.Fatal(err)
		}
		var p problem
		decodeProblem(t, resp, &p)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" {
			t.Errorf("%s %s with the database unavailable = %d, Retry-After %q, %+v; want 503, Retry-After 2",
				r.method, r.path, resp.StatusCode, resp.Header.Get("Retry-After"), p)
		}
	}
}
