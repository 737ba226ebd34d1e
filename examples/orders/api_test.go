package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// testAPI serves the API over real HTTP on a store of its own, without
// Kafka: orders stay created, as if the payments consumer were down.
func testAPI(t *testing.T) (*store, string) {
	t.Helper()
	return testAPIOn(t, testConfig(t))
}

// testAPIOn is testAPI on the database of cfg.
func testAPIOn(t *testing.T, cfg config) (*store, string) {
	t.Helper()
	s := &store{db: openTestDB(t, cfg), topics: topics{}, postgres: cfg.DatabaseURL != ""}
	srv := httptest.NewServer(newAPI(s, cfg, testLogger()).handler())
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func TestCreateOrderValidation(t *testing.T) {
	_, url := testAPI(t)
	tests := []struct {
		name string
		body string
		code int
		want []string // substrings of the error and problems
	}{
		{"not JSON", `{"customer":`, 400, []string{"invalid JSON body"}},
		{"unknown field", `{"customer":"a","items":[{"sku":"X","qty":1,"price_cents":1}],"coupon":"FREE"}`, 400, []string{`unknown field "coupon"`}},
		{"two values", `{"customer":"a","items":[{"sku":"X","qty":1,"price_cents":1}]} {}`, 400, []string{"more than one value"}},
		{"wrong type", `{"customer":"a","items":[{"sku":"X","qty":"one","price_cents":1}]}`, 400, []string{"invalid JSON body", "qty"}},
		{"empty", `{}`, 400, []string{"customer: required", "items: at least one item required"}},
		{"blank customer", `{"customer":"  ","items":[{"sku":"X","qty":1,"price_cents":1}]}`, 400, []string{"customer: required"}},
		{"bad items", `{"customer":"a","items":[{"sku":"","qty":0,"price_cents":-5},{"sku":"Y","qty":1001,"price_cents":100000001}]}`, 400, []string{
			"items[0].sku: required", "items[0].qty: must be between 1 and 1000, got 0",
			"items[0].price_cents: must be between 0 and 100000000, got -5",
			"items[1].qty: must be between 1 and 1000, got 1001", "items[1].price_cents: must be between 0 and 100000000, got 100000001",
		}},
		{"too many items", `{"customer":"a","items":[` + strings.Repeat(`{"sku":"X","qty":1,"price_cents":1},`, maxItems) + `{"sku":"X","qty":1,"price_cents":1}]}`, 400, []string{"items: at most 100 items, got 101"}},
		{"too large", `{"customer":"` + strings.Repeat("a", maxBodyBytes) + `"}`, 413, []string{"body larger than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(url+"/orders", "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got problem
			decodeProblem(t, resp, &got)
			if resp.StatusCode != tt.code {
				t.Errorf("status = %d, want %d (%+v)", resp.StatusCode, tt.code, got)
			}
			all := got.Detail + "\n" + strings.Join(got.Problems, "\n")
			for _, want := range tt.want {
				if !strings.Contains(all, want) {
					t.Errorf("error = %q, want it to mention %q", all, want)
				}
			}
		})
	}
	var list struct{ Orders []order }
	if code := do(t, "GET", url+"/orders", nil, &list); code != 200 || len(list.Orders) != 0 {
		t.Errorf("after invalid requests: GET /orders = %d with %d orders, want 200 and none stored", code, len(list.Orders))
	}
}

func TestCreateOrderWritesOutboxInSameTransaction(t *testing.T) {
	s, url := testAPI(t)
	o := createOrder(t, url, "alice")
	if o.Status != statusCreated || o.TotalCents != 2*1250+499 || !strings.HasPrefix(o.ID, "ord_") {
		t.Errorf("created order = %+v", o)
	}
	if rows, unsent := outboxRows(t, s.db, s.topics.status(statusCreated), o.ID); rows != 1 || unsent != 1 {
		t.Errorf("outbox: %d orders.created rows, %d unsent; want 1 and 1", rows, unsent)
	}
}

func TestGetAndListErrors(t *testing.T) {
	_, url := testAPI(t)
	var e problem
	if code := do(t, "GET", url+"/orders/ord_nope", nil, &e); code != 404 || !strings.Contains(e.Detail, `"ord_nope" not found`) {
		t.Errorf("GET unknown order = %d %+v, want 404 naming it", code, e)
	}
	for _, limit := range []string{"0", "101", "ten"} {
		if code := do(t, "GET", url+"/orders?limit="+limit, nil, &e); code != 400 || !strings.Contains(e.Detail, "invalid limit") {
			t.Errorf("GET /orders?limit=%s = %d %+v, want 400", limit, code, e)
		}
	}
	var list struct{ Orders []order }
	if code := do(t, "GET", url+"/orders", nil, &list); code != 200 || list.Orders == nil {
		t.Errorf("GET /orders with no orders = %d %v, want 200 and []", code, list.Orders)
	}
}

func TestCancel(t *testing.T) {
	s, url := testAPI(t)
	o := createOrder(t, url, "bob")

	var got order
	if code := do(t, "POST", url+"/orders/"+o.ID+"/cancel", nil, &got); code != 200 || got.Status != statusCancelled {
		t.Fatalf("cancel a created order = %d %+v, want 200 cancelled", code, got)
	}
	var e problem
	if code := do(t, "POST", url+"/orders/"+o.ID+"/cancel", nil, &e); code != 409 || !strings.Contains(e.Detail, "is cancelled") {
		t.Errorf("cancel twice = %d %+v, want 409", code, e)
	}
	if code := do(t, "POST", url+"/orders/ord_nope/cancel", nil, &e); code != 404 {
		t.Errorf("cancel an unknown order = %d, want 404", code)
	}
	if rows, _ := outboxRows(t, s.db, s.topics.status(statusCancelled), o.ID); rows != 1 {
		t.Errorf("%d orders.cancelled events, want 1", rows)
	}
	// The payment of a cancelled order, arriving late, changes nothing.
	applied, current, err := s.apply(t.Context(), o.ID, toPaid)
	if err != nil || applied || current != statusCancelled {
		t.Errorf("pay a cancelled order = %v, %s, %v; want not applied, cancelled", applied, current, err)
	}
}

// decodeProblem decodes an error answer, which must be a problem detail
// (RFC 9457) matching its status.
func decodeProblem(t *testing.T, resp *http.Response, p *problem) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(p); err != nil {
		t.Fatalf("decode answer: %v", err)
	}
	if p.Type != "about:blank" || p.Status != resp.StatusCode || p.Title != http.StatusText(resp.StatusCode) || p.Detail == "" {
		t.Errorf("problem = %+v, want type about:blank, status %d with its title and a detail", p, resp.StatusCode)
	}
}
