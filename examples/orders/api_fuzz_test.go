package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
)

// fuzzAPIs returns the API on a new SQLite file, and on PostgreSQL too when
// DATABASE_URL is set, for fuzz targets to send every input to each.
func fuzzAPIs(f *testing.F) map[string]http.Handler {
	cfg := testConfig(f)
	apis := map[string]http.Handler{"sqlite": newAPI(&store{db: openTestDB(f, cfg)}, cfg, testLogger()).handler()}
	if os.Getenv(envDatabaseURL) != "" {
		pg := testConfig(f)
		testPostgres(f, &pg)
		apis["postgres"] = newAPI(&store{db: openTestDB(f, pg)}, pg, testLogger()).handler()
	}
	return apis
}

// FuzzCreateOrder posts any body with any Idempotency-Key to POST /orders.
// The API never answers a server error; it creates an order only from a
// body that decodes strictly and validates, and stores and serves back
// exactly what was sent. The seeds are the bodies of
// TestCreateOrderValidation and TestBadInput.
func FuzzCreateOrder(f *testing.F) {
	valid := `{"customer":"c","items":[{"sku":"X","qty":1,"price_cents":1}]}`
	for _, seed := range [][2]string{
		{valid, ""}, {valid, "key-1"}, {`{"customer":"c","items":[{"sku":"X","qty":2,"price_cents":1}]}`, "key-1"},
		{`{"customer":`, ""}, {`{"customer":"a","items":[{"sku":"X","qty":1,"price_cents":1}],"coupon":"FREE"}`, ""},
		{valid + ` {}`, ""}, {`{"customer":"a","items":[{"sku":"X","qty":"one","price_cents":1}]}`, ""}, {`{}`, ""},
		{`{"customer":"  ","items":[{"sku":"X","qty":1,"price_cents":1}]}`, ""},
		{`{"customer":"a","items":[{"sku":"","qty":0,"price_cents":-5},{"sku":"Y","qty":1001,"price_cents":100000001}]}`, ""},
		{`{"customer":"a\u0000b","items":[{"sku":"X","qty":1,"price_cents":1}]}`, ""},
		{`{"customer":"a\u202eb","items":[{"sku":"X","qty":1,"price_cents":1}]}`, ""},
		{`{"customer":"a\ud800b","items":[{"sku":"X","qty":1,"price_cents":1}]}`, ""},
		{"{\"customer\":\"c\xff\",\"items\":[{\"sku\":\"X\",\"qty\":1,\"price_cents\":1}]}", ""},
		{`{"customer":"Zoë Ångström 北京市 🛒","items":[{"sku":"SKU-\u200d","qty":1000,"price_cents":100000000}]}`, ""},
		{`{"Customer":"c","ITEMS":[{"SKU":"X","Qty":1,"Price_Cents":1}]}`, ""}, {`{"customer":"c","items":null}`, ""},
		{`{"customer":"c","items":[{"sku":"X","qty":1e3,"price_cents":1}]}`, ""}, {valid, "clé"}, {valid, "a b"},
		{valid, strings.Repeat("k", maxIdempotencyKeyLen+1)}, {`[]`, ""}, {`null`, ""}, {``, ""},
	} {
		f.Add([]byte(seed[0]), seed[1])
	}
	apis := fuzzAPIs(f)
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		for db, h := range apis {
			req := httptest.NewRequest(http.MethodPost, "/orders", bytes.NewReader(body))
			if key != "" {
				req.Header.Set(headerIdempotencyKey, key)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			switch rec.Code {
			case http.StatusCreated, http.StatusOK: // created, or replayed
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
				continue
			default:
				t.Fatalf("%s: POST /orders %q (key %q) = %d %s", db, body, key, rec.Code, rec.Body)
			}
			var sent newOrderRequest
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&sent); err != nil || dec.More() || len(sent.validate()) > 0 || badIdempotencyKey(key) != "" {
				t.Fatalf("%s: POST /orders %q (key %q) = %d, but the request is invalid: %v %v", db, body, key, rec.Code, err, sent.validate())
			}
			var created order
			if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil {
				t.Fatalf("%s: POST /orders = %d %q: %v", db, rec.Code, rec.Body, err)
			}
			if rec.Code == http.StatusOK {
				continue // replayed: an earlier request with this key, whose body hashes the same
			}
			get := httptest.NewRecorder()
			h.ServeHTTP(get, httptest.NewRequest(http.MethodGet, "/orders/"+created.ID, nil))
			var stored order
			if err := json.Unmarshal(get.Body.Bytes(), &stored); get.Code != http.StatusOK || err != nil {
				t.Fatalf("%s: GET /orders/%s = %d %s", db, created.ID, get.Code, get.Body)
			}
			if stored.Customer != sent.Customer || !slices.Equal(stored.Items, sent.Items) || stored.TotalCents != total(sent.Items) {
				t.Errorf("%s: sent %+v, stored %+v", db, sent, stored)
			}
		}
	})
}

// FuzzRequestTarget sends GET or POST to any request target a client can
// write (a path with any order id, any query), without a body. The API
// never answers a server error: an id that is not an order's is a 404
// without a database query, a limit out of range a 400. The seeds are the
// ids and targets of TestBadInput.
func FuzzRequestTarget(f *testing.F) {
	for _, seed := range []string{
		"orders", "orders?limit=5", "orders?limit=0", "orders?limit=101", "orders?limit=-1", "orders?limit=1e2",
		"orders?limit=99999999999999999999", "orders?limit=5&limit=7", "orders/%00", "orders/%ff", "orders/ord_%00",
		"orders/ord_%ff", "orders/ord_%e2%80%ae", "orders/ord_a%0ab", "orders/ord_ABC", "orders/x",
		"orders/ord_" + strings.Repeat("a", maxIDLen+1), "orders/ord_" + strings.Repeat("a", maxIDLen),
		"orders/ord_abc/cancel", "orders/ord_abc/cancel/", "orders/../openapi.json", "openapi.json", "orders//x",
		"orders/ord_abc%2fcancel", "orders/ord_2345", "%", "orders/%zz", "orders/ord_a;b", "orders/ord_a?x=%00",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	apis := fuzzAPIs(f)
	f.Fuzz(func(t *testing.T, target string, post bool) {
		u, err := url.ParseRequestURI("/" + target)
		if err != nil {
			return // net/http answers 400 before any handler
		}
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		for db, h := range apis {
			req := httptest.NewRequest(method, "/", nil)
			req.URL, req.RequestURI = u, "/"+target
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s: %s /%s = %d %s", db, method, target, rec.Code, rec.Body)
			}
		}
	})
}

// FuzzConfigEnv feeds any text to the order system's own variables:
// loadConfig either refuses it with an error naming the variable and
// quoting its value, or takes positive durations and specs flexcron can
// schedule.
func FuzzConfigEnv(f *testing.F) {
	for _, seed := range [][4]string{
		{"", "", "", ""}, {"200ms", "15m", "@every 1m", "0 * * * *"}, {"0s", "-1m", "* * *", "@every 500ms"},
		{"soon", "1e3s", "CRON_TZ=Mars/Olympus * * * * *", "TZ="}, {"9223372036854775807ns", "1h", "@daily", "@every 1.5s"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, interval, ttl, expirySpec, reconcileSpec string) {
		env := map[string]string{envOutboxInterval: interval, envPaymentTimeout: ttl, envIdempotencyTTL: ttl,
			envReconcileAfter: interval, envExpirySpec: expirySpec, envReconcileSpec: reconcileSpec}
		for k, v := range env {
			if strings.ContainsRune(v, 0) {
				return // the environment cannot hold NUL
			}
			t.Setenv(k, v)
		}
		cfg, err := loadConfig()
		if err != nil {
			for k, v := range env {
				if strings.HasPrefix(err.Error(), fmt.Sprintf("orders: invalid %s %q: ", k, v)) {
					return
				}
			}
			t.Fatalf("error %q names none of the variables", err)
		}
		for _, d := range []struct {
			name string
			v    int64
		}{{envOutboxInterval, int64(cfg.OutboxInterval)}, {envPaymentTimeout, int64(cfg.PaymentTimeout)},
			{envIdempotencyTTL, int64(cfg.IdempotencyTTL)}, {envReconcileAfter, int64(cfg.ReconcileAfter)}} {
			if d.v <= 0 {
				t.Errorf("%s taken as %d", d.name, d.v)
			}
		}
	})
}
